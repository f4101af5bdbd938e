"""Pages for client companies, their users and their style guides (thin: form → service → redirect)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from agency.exceptions import RuleViolation
from agency.forms import run_service
from agency.permissions import is_client_user, require
from agency.uploads import get_backend
from agency.views import no_store
from clients import permissions, selectors, services, webhooks
from clients.forms import (
    ClientForm,
    MemberForm,
    SecurityLogFilterForm,
    StyleGuideCreateForm,
    StyleGuideForm,
    WebhookForm,
)
from clients.tenancy import client_id_of


@login_required
def client_list(request: HttpRequest) -> HttpResponse:
    require(permissions.can_view_clients(request.user))
    search = request.GET.get("q", "")[:100]
    return render(request, "clients/client_list.html", {
        "clients": selectors.client_list(request.user, search=search), "q": search,
        "can_manage": permissions.can_manage_clients(request.user),
    })


@login_required
def client_create(request: HttpRequest) -> HttpResponse:
    require(permissions.can_manage_clients(request.user))
    form = ClientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        client = run_service(form, lambda: services.client_create(by=request.user, **form.cleaned_data))
        if client:
            messages.success(request, f"{client.name} has been added.")
            return redirect("clients:client_detail", pk=client.pk)
    return render(request, "clients/client_form.html", {"form": form, "title": "New client"})


@login_required
def client_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    client = selectors.client_get(request.user, pk)
    require(permissions.can_view_clients(request.user))
    return render(request, "clients/client_detail.html", {
        "client": client,
        "members": selectors.membership_list(request.user, client),
        "style_guides": selectors.style_guide_list(request.user, client=client),
        "can_manage": permissions.can_manage_clients(request.user),
        "can_manage_team": permissions.can_manage_team(request.user, client),
    })


@login_required
def client_edit(request: HttpRequest, pk: Any) -> HttpResponse:
    client = selectors.client_get(request.user, pk)
    require(permissions.can_manage_clients(request.user))
    form = ClientForm(request.POST or None, instance=client)
    if request.method == "POST" and form.is_valid():
        updated = run_service(form, lambda: services.client_update(client=client, by=request.user, **form.cleaned_data))
        if updated:
            messages.success(request, f"{updated.name} has been saved.")
            return redirect("clients:client_detail", pk=updated.pk)
    return render(request, "clients/client_form.html", {"form": form, "title": f"Edit {client.name}", "client": client})


@login_required
def team(request: HttpRequest) -> HttpResponse:
    """A client user's own company team (the studio manages teams from the client's page)."""
    client_id = client_id_of(request.user)
    if client_id is None:
        raise Http404
    client = selectors.client_get(request.user, client_id)
    return render(request, "clients/team.html", {
        "client": client, "own": True, "members": selectors.membership_list(request.user, client),
        "can_manage_team": permissions.can_manage_team(request.user, client),
    })


def _team_page(request: HttpRequest, client: Any) -> HttpResponse:
    if is_client_user(request.user):
        return redirect("clients:team")
    return redirect("clients:client_detail", pk=client.pk)


def _team_member(request: HttpRequest, pk: Any, membership_id: Any) -> tuple[Any, Any]:
    client = selectors.client_get(request.user, pk)
    membership = get_object_or_404(selectors.membership_list(request.user, client), pk=membership_id)
    require(permissions.can_manage_team(request.user, client))
    return client, membership


@login_required
def member_add(request: HttpRequest, pk: Any) -> HttpResponse:
    client = selectors.client_get(request.user, pk)
    require(permissions.can_manage_team(request.user, client))
    form = MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        membership = run_service(form, lambda: services.member_add(client=client, by=request.user, **form.cleaned_data))
        if membership:
            messages.success(request, f"{membership.user.email} has been invited by e-mail.")
            return _team_page(request, client)
    back = "/team/" if is_client_user(request.user) else f"/clients/{client.pk}/"
    return render(request, "clients/member_form.html", {"form": form, "client": client, "back": back},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def member_remove(request: HttpRequest, pk: Any, membership_id: Any) -> HttpResponse:
    client, membership = _team_member(request, pk, membership_id)
    services.member_remove(membership=membership, by=request.user)
    messages.success(request, f"{membership.user.email} no longer has access.")
    return _team_page(request, client)


@login_required
@require_POST
def member_erase(request: HttpRequest, pk: Any, membership_id: Any) -> HttpResponse:
    client, membership = _team_member(request, pk, membership_id)
    name = membership.user.full_name or membership.user.email
    services.member_erase(membership=membership, by=request.user)
    messages.success(request, f"{name} no longer has access, and their name and e-mail address are erased.")
    return _team_page(request, client)


@login_required
@require_POST
def member_role(request: HttpRequest, pk: Any, membership_id: Any) -> HttpResponse:
    client, membership = _team_member(request, pk, membership_id)
    membership = services.member_set_role(membership=membership, by=request.user, role=request.POST.get("role", ""))
    messages.success(request, f"{membership.user.email} is now a {membership.user.get_role_display().lower()}.")
    return _team_page(request, client)


@login_required
@require_POST
def member_resend(request: HttpRequest, pk: Any, membership_id: Any) -> HttpResponse:
    client, membership = _team_member(request, pk, membership_id)
    services.member_resend(membership=membership, by=request.user)
    messages.success(request, f"The invitation is on its way to {membership.user.email} again.")
    return _team_page(request, client)


@login_required
def style_guide_list(request: HttpRequest) -> HttpResponse:
    guides = selectors.style_guide_list(request.user)
    return render(request, "clients/style_guide_list.html", {
        "style_guides": guides,
        "can_create": permissions.can_browse_style_guides(request.user),
    })


@login_required
def style_guide_create(request: HttpRequest) -> HttpResponse:
    own = client_id_of(request.user)
    if own is not None:
        client = selectors.client_get(request.user, own)
        form: StyleGuideForm = StyleGuideForm(request.POST or None)
    else:
        require(permissions.can_manage_clients(request.user))
        client = None
        form = StyleGuideCreateForm(request.POST or None, clients=selectors.client_list(request.user),
                                    initial={"client": request.GET.get("client")})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        target = data.pop("client", None) or client
        guide = run_service(form, lambda: services.style_guide_create(client=target, by=request.user, **data))
        if guide:
            messages.success(request, f"Style guide “{guide.name}” has been created.")
            return redirect("clients:style_guide_detail", pk=guide.pk)
    return render(request, "clients/style_guide_form.html", {"form": form, "title": "New style guide"})


@login_required
def style_guide_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    guide = selectors.style_guide_get(request.user, pk)
    return render(request, "clients/style_guide_detail.html", {
        "guide": guide,
        "versions": selectors.style_guide_versions(request.user, guide),
        "can_edit": guide.is_current and permissions.can_edit_style_guide(request.user, guide.client),
    })


@login_required
def style_guide_edit(request: HttpRequest, pk: Any) -> HttpResponse:
    guide = selectors.style_guide_get(request.user, pk)
    require(permissions.can_edit_style_guide(request.user, guide.client))
    form = StyleGuideForm(request.POST or None, instance=guide)
    if request.method == "POST" and form.is_valid():
        saved = run_service(form, lambda: services.style_guide_update(guide=guide, by=request.user, **form.cleaned_data))
        if saved:
            if saved.pk != guide.pk:
                messages.success(request, f"Orders use version {guide.version}, so your changes are version {saved.version}.")
            else:
                messages.success(request, "The style guide has been saved.")
            return redirect("clients:style_guide_detail", pk=saved.pk)
    return render(request, "clients/style_guide_form.html", {"form": form, "title": f"Edit {guide.name}", "guide": guide})


@login_required
def style_guide_reference(request: HttpRequest, pk: Any) -> HttpResponse:
    """The guide's golden reference picture, through a short-lived link (whoever may read the guide)."""
    guide = selectors.style_guide_get(request.user, pk)
    if not guide.reference_key:
        raise Http404
    url = get_backend().download_url(guide.reference_key, filename=guide.reference_label or "reference.webp",
                                     content_type="image/webp", inline=True)
    response = redirect(url)
    response["Cache-Control"] = "private, max-age=300"
    return response


@login_required
def security_log(request: HttpRequest) -> HttpResponse:
    """Sign-ins, failures, second-factor changes, invitations, roles, seats and tokens: the whole
    studio's for its admins, the company's own for a client admin."""
    require(permissions.can_view_security_log(request.user))
    form = SecurityLogFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = selectors.security_events(request.user, kind=filters.get("kind", ""), person=filters.get("person", ""))
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    return render(request, "clients/security_log.html", {
        "form": form, "page": page, "events": page.object_list, "studio_view": not is_client_user(request.user),
        "query": request.GET,
    }, status=400 if form.errors else 200)


def _webhook_form(request: HttpRequest, data: Any = None, **kwargs: Any) -> WebhookForm:
    companies = None if is_client_user(request.user) else selectors.client_list(request.user)
    return WebhookForm(data, companies=companies, **kwargs)



@login_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    """The company's (or, for the studio's managers, every) webhook endpoint, and a form to add one.
    The new secret is shown on the answer to the POST that made it, never again."""
    require(permissions.can_open_webhooks(request.user))
    form = _webhook_form(request, request.POST or None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        fields = dict(form.cleaned_data)
        client = fields.pop("client", None)
        if is_client_user(request.user):
            client = selectors.client_get(request.user, client_id_of(request.user))
        made = run_service(form, lambda: webhooks.endpoint_create(by=request.user, client=client, **fields))
        if made:
            created, secret = made
            form = _webhook_form(request)
    response = render(request, "clients/webhook_list.html", {
        "form": form, "endpoints": selectors.webhook_list(request.user), "created": created, "secret": secret,
    }, status=400 if form.errors else 200)
    return no_store(response) if secret else response


@login_required
def webhook_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """One endpoint: its settings, on or off, a new secret, a test delivery, deletion, and its latest
    deliveries with each one's answer, time taken and a button to send it again."""
    endpoint = get_object_or_404(selectors.webhook_list(request.user), pk=pk)  # another company's: 404
    require(permissions.can_open_webhooks(request.user))
    action = request.POST.get("action", "") if request.method == "POST" else ""
    form = _webhook_form(request, request.POST if action == "update" else None,
                         initial={"url": endpoint.url, "events": endpoint.events, "description": endpoint.description,
                                  "client": endpoint.client_id})
    if "client" in form.fields:
        del form.fields["client"]  # whose events an endpoint receives is fixed when it is made
    secret = None
    if action == "update" and form.is_valid():
        if run_service(form, lambda: webhooks.endpoint_update(endpoint=endpoint, by=request.user, **form.cleaned_data)):
            messages.success(request, "The endpoint is saved.")
            return redirect("clients:webhook_detail", pk=endpoint.pk)
    elif action in ("enable", "disable"):
        webhooks.endpoint_update(endpoint=endpoint, by=request.user, is_active=action == "enable")
        messages.success(request, "The endpoint is switched on." if action == "enable" else
                         "The endpoint is switched off; events are not sent to it.")
        return redirect("clients:webhook_detail", pk=endpoint.pk)
    elif action == "rotate":
        secret = webhooks.endpoint_rotate_secret(endpoint=endpoint, by=request.user)
    elif action == "ping":
        webhooks.ping(endpoint=endpoint, by=request.user)
        messages.success(request, "A test delivery is on its way; its answer appears below in a moment.")
        return redirect("clients:webhook_detail", pk=endpoint.pk)
    elif action == "redeliver":
        delivery = get_object_or_404(selectors.webhook_deliveries(request.user, endpoint),
                                     pk=request.POST.get("delivery") or None)
        webhooks.redeliver(delivery=delivery, by=request.user)
        messages.success(request, f"The {delivery.event_type} delivery is being sent again.")
        return redirect("clients:webhook_detail", pk=endpoint.pk)
    elif action == "delete":
        webhooks.endpoint_delete(endpoint=endpoint, by=request.user)
        messages.success(request, f"The endpoint {endpoint.url} is deleted.")
        return redirect("clients:webhook_list")
    elif action and action != "update":
        raise RuleViolation("Choose what to do with the endpoint.")
    endpoint.refresh_from_db()
    response = render(request, "clients/webhook_detail.html", {
        "endpoint": endpoint, "form": form, "secret": secret,
        "deliveries": selectors.webhook_deliveries(request.user, endpoint)[:50],
    }, status=400 if form.errors else 200)
    return no_store(response) if secret else response
