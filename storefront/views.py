"""The storefront's pages: the studio's public home, a client admin's rating of an order, and the panels the
order page and the quality report load over htmx (jobs never imports the storefront)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.db.models import Case, Value, When
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agency import brand
from agency.auth import client_ip
from agency.exceptions import RuleViolation
from agency.forms import run_service
from agency.notifications import studio_name
from agency.permissions import require
from jobs.models import Complexity, OrderStatus, Turnaround
from jobs.selectors import order_get, service_list
from storefront import estimates, permissions, selectors, services, trials
from storefront.api import EstimateThrottle, TrialThrottle, estimate_input, refuse_large_body
from storefront.forms import EstimateForm, PairForm, RatingForm, TrialDeclineForm, TrialForm
from storefront.models import Estimate, Piece, PortfolioService, TrialStatus


def _public(response: HttpResponse) -> HttpResponse:
    """Public pages may be kept by a cache only if it asks again each time: what a client withdraws
    leaves the site at once."""
    response["Cache-Control"] = "public, no-cache"
    return response


def _choice(value: str, choices: Any) -> str:
    return value if value in choices.values else ""


@require_GET
def studio_home(request: HttpRequest) -> HttpResponse:
    """The studio's public home: its work (before/after pairs its clients agreed to show, by service and by
    piece) and what clients say (every rating of the last twelve months counted)."""
    ratings = selectors.public_ratings()
    stars = [(n, ratings.stars[n], round(100 * ratings.stars[n] / ratings.count) if ratings.count else 0)
             for n in range(5, 0, -1)]
    service = _choice(request.GET.get("service", ""), PortfolioService)
    piece = _choice(request.GET.get("piece", ""), Piece)
    pairs = list(selectors.public_pairs(service=service, piece=piece)[:selectors.PUBLIC_PAIRS])
    return _public(render(request, "storefront/home.html", {
        "ratings": ratings, "stars": stars, "studio": studio_name(), "pairs": pairs,
        "services": PortfolioService.choices, "pieces": Piece.choices, "service": service, "piece": piece,
        "filtered": bool(service or piece), "trial_offer": trials.offered()}))


def _estimate_form(data: Any) -> EstimateForm:
    services = [(s.code, s.name) for s in service_list()]
    hours = settings.LOUPE_TURNAROUND_HOURS
    tiers = [(value, f"{label} ({hours[value]} business hours)") for value, label in Turnaround.choices]
    return EstimateForm(data, services=services, turnarounds=tiers, max_count=estimates.MAX_COUNT)


@require_http_methods(["GET", "POST"])
def estimate_page(request: HttpRequest) -> HttpResponse:
    """The instant estimate (anonymous): the form, and on a valid one the figures' own page (a reload asks nothing
    twice). Twenty estimates an hour per network address, like the API's."""
    form, status = _estimate_form(None), 200
    if request.method == "POST":
        made, form, status = _estimate_answer(request)
        if made is not None:
            return redirect("storefront:estimate", pk=made.pk)
    response = render(request, "storefront/estimate_form.html", {
        "form": form, "studio": studio_name(), "max_samples": estimates.MAX_SAMPLES}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def _estimate_answer(request: HttpRequest) -> tuple[Estimate | None, EstimateForm, int]:
    """The posted form's estimate, or the form with the reason it was refused and the status to answer."""
    try:
        refuse_large_body(request)  # before the form reads the body
    except RuleViolation as exc:
        form = _estimate_form(QueryDict())
        form.add_error(None, exc.message)
        return None, form, 400
    form = _estimate_form(request.POST)
    if not EstimateThrottle().allow_request(request, None):
        form.add_error(None, f"That is {EstimateThrottle.limit} estimates from your network within the hour; please "
                             "try again later, or sign in and ask the studio for a quote.")
        return None, form, 429
    made = run_service(form, lambda: estimates.estimate_create(**estimate_input(request))) if form.is_valid() else None
    return made, form, 200 if made is not None else 400


@require_GET
def estimate_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """An estimate's figures, for the day they are kept (by their unguessable address only)."""
    made = estimates.live(pk)
    if made is None:
        raise Http404("This estimate has expired (its figures are kept a day).")
    names = dict(service_list(active_only=False).values_list("code", "name"))
    response = render(request, "storefront/estimate.html", {
        "estimate": made, "studio": studio_name(), "drivers": estimates.estimate_drivers(made),
        "trial_offer": trials.offered(),
        "services": [names.get(code, code) for code in made.services],
        "turnaround": Turnaround(made.turnaround).label, "mix": [(grade, made.mix[grade]) for grade in
                                                                  Complexity.values if made.mix.get(grade)]})
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


@require_GET
def sitemap(request: HttpRequest) -> HttpResponse:
    """The public pages for search engines: the studio's home, each of its filtered views that shows work, and the
    estimate. Addresses on the studio's domain (``agency.brand``)."""
    base = brand.current().base_url
    shown = list(selectors.public_pairs().order_by().values_list("service", "piece", "copies_at"))
    services, pieces = sorted({row[0] for row in shown}), sorted({row[1] for row in shown})
    home = reverse("storefront:home")
    pages = [(home, max((row[2] for row in shown), default=None)), (reverse("storefront:estimate_form"), None)]
    pages += [(reverse("storefront:trial_form"), None)] if trials.offered() else []
    pages += [(f"{home}?service={code}", None) for code in services] + [(f"{home}?piece={code}", None) for code in pieces]
    response = render(request, "storefront/sitemap.xml", {"pages": [(base + path, when) for path, when in pages]},
                      content_type="application/xml")
    return _public(response)


@require_GET
def robots(request: HttpRequest) -> HttpResponse:
    """Crawlers read the studio's public pages; everything else is behind a sign-in."""
    base = brand.current().base_url
    body = (f"User-agent: *\nAllow: {reverse('storefront:home')}\nDisallow: /\n"
            f"Sitemap: {base}{reverse('storefront:sitemap')}\n")
    return _public(HttpResponse(body, content_type="text/plain"))


@require_GET
def pair_file(request: HttpRequest, pk: Any, side: str) -> HttpResponse:
    """A public pair's web copy, served only while the pair is shown: a cache must ask again each time (no-cache
    with an ETag), so a withdrawn picture stops being served at once, from caches too."""
    if side not in {"before", "after"}:
        raise Http404("A pair has a before and an after picture.")
    pair = get_object_or_404(selectors.public_pairs(), pk=pk)
    key = pair.before if side == "before" else pair.after
    etag = f'"{key.rsplit("/", 1)[-1]}"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponseNotModified()
    else:
        try:
            with default_storage.open(key, "rb") as handle:
                response = HttpResponse(handle.read(), content_type="image/webp")
        except FileNotFoundError:
            raise Http404("This picture is not shown any more.") from None
    response["ETag"] = etag
    return _public(response)


@login_required
def order_rating(request: HttpRequest, pk: Any) -> HttpResponse:
    """A client admin rates a completed order (or changes the rating); the company's people and the
    studio's managers read it."""
    order = order_get(request.user, pk)
    require(permissions.can_see_order_rating(request.user, order), "The company's people and the studio's managers "
            "read an order's rating.")
    rating = selectors.order_rating(request.user, order)
    may_rate = permissions.can_rate_order(request.user, order) and order.status == OrderStatus.COMPLETED
    initial = ({"score": rating.score, "comment": rating.comment, "publish": rating.publish,
                "shown_name": rating.shown_name, "shown_company": rating.shown_company} if rating else
               {"shown_name": request.user.full_name, "shown_company": order.client.name})
    form = RatingForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST":
        require(permissions.can_rate_order(request.user, order), f"Only an admin of {order.client.name} rates its orders.")
        if form.is_valid() and run_service(form, lambda: services.rating_give(order=order, by=request.user,
                                                                             **form.cleaned_data)):
            flash.success(request, "Thank you: your rating is saved." if rating is None
                          else "Your rating is updated.")
            return redirect("jobs:order_detail", pk=order.pk)
    return render(request, "storefront/order_rating.html", {
        "order": order, "rating": rating, "form": form, "may_rate": may_rate}, status=400 if form.errors else 200)


@login_required
@require_GET
def order_rating_panel(request: HttpRequest, pk: Any) -> HttpResponse:
    """The order page's rating card: the rating, or (to a client admin of a completed order) the request for one."""
    order = order_get(request.user, pk)
    if not permissions.can_see_order_rating(request.user, order) or order.status != OrderStatus.COMPLETED:
        return HttpResponse("")
    return render(request, "storefront/_order_rating.html", {
        "order": order, "rating": selectors.order_rating(request.user, order),
        "may_rate": permissions.can_rate_order(request.user, order)})


@login_required
@require_GET
def quality_ratings(request: HttpRequest) -> HttpResponse:
    """The quality report's panel: every rating per client and per retoucher, beside first-time approval."""
    require(permissions.can_view_ratings(request.user))
    return render(request, "storefront/_quality_ratings.html", {"report": selectors.ratings_report(request.user)})


@login_required
def order_portfolio(request: HttpRequest, pk: Any) -> HttpResponse:
    """The order page's "Shown in public" card: the company's admins let the studio show the order's approved
    pictures (all, or some) and take it back; its people and the studio's managers see what is shown."""
    order = order_get(request.user, pk)
    if request.method == "POST":
        require(permissions.can_consent_portfolio(request.user, order),
                f"Only an admin of {order.client.name} decides what of its work is shown in public.")
        images = request.POST.getlist("image") or None
        if request.POST.get("action") == "withdraw":
            services.consent_withdraw(order=order, by=request.user, images=images)
            flash.success(request, "Withdrawn: those pictures are no longer shown on the studio's page.")
        else:
            services.consent_give(order=order, by=request.user, images=images)
            flash.success(request, "Thank you: the studio may show those pictures on its public page.")
        return redirect(reverse("jobs:order_detail", args=[order.pk]) + "#portfolio")
    if not permissions.can_see_portfolio_consent(request.user, order):
        return HttpResponse("")  # the order page's card is not for this reader
    return render(request, "storefront/_order_portfolio.html", {
        "order": order, "portfolio": selectors.order_portfolio(request.user, order),
        "may_consent": permissions.can_consent_portfolio(request.user, order)})


@login_required
def portfolio_manage(request: HttpRequest) -> HttpResponse:
    """The studio's managers curate the public portfolio: the pairs (publish, describe, order, remove) and the
    approved pictures whose clients agreed to show them."""
    require(permissions.can_curate_portfolio(request.user))
    form = PairForm(request.POST or None, prefix="new")
    if request.method == "POST":
        image = selectors.picture_get(request.user, request.POST.get("image"))
        if form.is_valid() and run_service(form, lambda: services.pair_create(image=image, by=request.user,
                                                                              **form.cleaned_data)):
            flash.success(request, f"{image.filename} is added; its web copies are being made. Publish it once they "
                                   "are there.")
            return redirect("storefront:portfolio_manage")
    pairs = list(selectors.pair_list(request.user))
    return render(request, "storefront/portfolio_manage.html", {
        "pairs": pairs, "candidates": selectors.candidates(request.user), "form": form,
        "comments": selectors.published_comments(request.user),
        "services": PortfolioService.choices, "pieces": Piece.choices}, status=400 if form.errors else 200)


@login_required
@require_POST
def pair_edit(request: HttpRequest, pk: Any) -> HttpResponse:
    pair = selectors.pair_get(request.user, pk)
    require(permissions.can_curate_portfolio(request.user))
    action = request.POST.get("action", "save")
    if action == "remove":
        services.pair_remove(pair=pair, by=request.user)
        flash.success(request, f"“{pair.title}” is out of the portfolio.")
    elif action in {"publish", "hide"}:
        services.pair_update(pair=pair, by=request.user, published=action == "publish")
        flash.success(request, f"“{pair.title}” is {'on the public page' if action == 'publish' else 'hidden'}.")
    else:
        form = PairForm(request.POST)
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            raise RuleViolation(str(errors[0]), field=field)
        services.pair_update(pair=pair, by=request.user, **form.cleaned_data)
        flash.success(request, f"“{form.cleaned_data['title']}” is saved.")
    return redirect(reverse("storefront:portfolio_manage") + f"#pair-{pair.pk}")


def _trial_form(data: Any, initial: dict[str, Any] | None = None) -> TrialForm:
    return TrialForm(data, initial=initial, services=[(s.code, s.name) for s in service_list()],
                     offered=trials.offered())


def trial_input(data: Any) -> dict[str, Any]:
    """The trial form's fields as ``trials.trial_request`` takes them (the API has its serializer)."""
    services = [code for value in data.getlist("services") for code in value.split(",")]
    return {"company": data.get("company", ""), "contact_name": data.get("contact_name", ""),
            "email": data.get("email", ""), "country": data.get("country", ""), "vat_number": data.get("vat_number", ""),
            "pictures": data.get("pictures", ""), "services": services, "message": data.get("message", ""),
            "estimate_id": data.get("estimate") or None}


@require_http_methods(["GET", "POST"])
def trial_page(request: HttpRequest) -> HttpResponse:
    """A free trial's request (anonymous), from the estimate or on its own; ten an hour per network address."""
    wanted = request.GET.get("estimate") or request.POST.get("estimate")
    estimate = estimates.live(wanted) if wanted else None
    initial = {"services": estimate.services, "estimate": str(estimate.pk),
               "pictures": min(trials.offered(), estimate.count)} if estimate else {"pictures": trials.offered()}
    form, status = _trial_form(None, initial), 200
    if request.method == "POST":
        form = _trial_form(request.POST)
        if not TrialThrottle().allow_request(request, None):
            form.add_error(None, f"That is {TrialThrottle.limit} requests from your network within the hour; please "
                                 "try again later.")
            status = 429
        elif form.is_valid() and run_service(form, lambda: trials.trial_request(
                ip_address=client_ip(request), **trial_input(request.POST))):
            return redirect("storefront:trial_sent")
        else:
            status = 400
    response = render(request, "storefront/trial_form.html", {
        "form": form, "studio": studio_name(), "offered": trials.offered(), "estimate": estimate},
        status=status)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def trial_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "storefront/trial_sent.html", {"studio": studio_name()})


@login_required
@require_GET
def trial_list(request: HttpRequest) -> HttpResponse:
    """The studio's managers: trial requests, those waiting for an answer first."""
    require(permissions.can_answer_trials(request.user))
    rows = list(selectors.trial_list(request.user).order_by(
        Case(When(status=TrialStatus.REQUESTED, then=Value(0)), default=Value(1)), "-created_at")[:200])
    return render(request, "storefront/trial_list.html", {"trials": rows})


@login_required
@require_http_methods(["GET", "POST"])
def trial_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """One request; POST answers it (``action``: accept, or decline with a reason). Answering twice is refused
    with the state it is in (409), and changes nothing."""
    trial = selectors.trial_get(request.user, pk)
    require(permissions.can_answer_trials(request.user))
    decline = TrialDeclineForm(request.POST if request.POST.get("action") == "decline" else None)
    if request.method == "POST":
        if request.POST.get("action") == "accept":
            trial = trials.trial_accept(trial=trial, by=request.user)
            flash.success(request, f"{trial.company} is a client now: {trial.contact_name} is invited as its admin, and "
                                   f"its free trial order {trial.order.number if trial.order else ''} waits for their "
                                   "pictures.")
            return redirect("storefront:trial_detail", pk=trial.pk)
        if decline.is_valid() and run_service(decline, lambda: trials.trial_decline(
                trial=trial, by=request.user, reason=decline.cleaned_data["reason"])):
            flash.success(request, f"Declined; {trial.contact_name} is told why by mail.")
            return redirect("storefront:trial_detail", pk=trial.pk)
    names = dict(service_list(active_only=False).values_list("code", "name"))
    return render(request, "storefront/trial_detail.html", {
        "trial": trial, "decline": decline, "services": [names.get(code, code) for code in trial.services]},
        status=400 if decline.errors else 200)


@login_required
@require_POST
def rating_visibility(request: HttpRequest, pk: Any) -> HttpResponse:
    """The studio takes an order's published comment off its public page, saying why, or shows it again; the form
    says which, so a second click changes nothing."""
    order = order_get(request.user, pk)
    hide = request.POST.get("hidden") == "1"
    services.comment_visibility(order=order, by=request.user, hidden=hide, reason=request.POST.get("reason", ""))
    flash.success(request, f"The comment on {order.number} is {'off' if hide else 'back on'} the public page.")
    return redirect(f"{reverse('storefront:portfolio_manage')}#comments")

