"""Studio-wide pages: login, landing by role, profile, health, error pages."""

from __future__ import annotations

import base64
import logging
import time
import uuid
from typing import Any

import segno
from axes.utils import reset as axes_reset
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from django.contrib.auth.signals import user_login_failed
from django.core import signing
from django.core.paginator import Paginator
from django.db import transaction
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from django_otp import login as otp_login

from agency import brand, navigation, notifications, security_log, services, two_factor
from agency import health as health_checks
from agency.auth import COMPANY_SUSPENDED, client_ip, is_locked_out, lockout_response, suspended_company_user
from agency.exceptions import RuleViolation, problem_response
from agency.fields import TimeZoneField
from agency.models import Notification, NotificationPreference, User
from agency.permissions import landing_page
from agency.selectors import token_list
from agency.services import user_update_profile
from agency.throttle import allow
from agency.uploads import LocalBackend, UploadError, content_disposition, get_backend

logger = logging.getLogger("loupe.security")


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(label="E-mail address", max_length=254,
                                widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}))

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "E-mail address or password is wrong.",
        "company_inactive": COMPANY_SUSPENDED,
    }

    def get_invalid_login_error(self) -> forms.ValidationError:
        """The right password for a person whose company the studio deactivated gets a plain answer
        (only someone who knows the password learns it); everything else the same generic one."""
        if suspended_company_user(self.cleaned_data.get("username") or "", self.cleaned_data.get("password") or ""):
            return forms.ValidationError(self.error_messages["company_inactive"], code="company_inactive")
        return super().get_invalid_login_error()


class LoupePasswordResetForm(PasswordResetForm):
    """No reset mail for people who cannot sign in anyway (a deactivated company's users)."""

    def get_users(self, email: str) -> Any:
        return (user for user in super().get_users(email) if user.company_allows_access())


PENDING_KEY = "loupe_2fa_pending"


class LoginView(auth_views.LoginView):
    """The first step. Someone with two-factor sign-in on is not signed in yet: the session remembers
    who passed the password check (for ``LOUPE_2FA_PENDING_SECONDS``) and the code page finishes."""

    form_class = EmailAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form: Any) -> HttpResponse:
        logger.info("failed login from %s", client_ip(self.request))
        return super().form_invalid(form)

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        if not two_factor.is_enabled(user):
            return super().form_valid(form)
        self.request.session.cycle_key()
        self.request.session[PENDING_KEY] = {"user": str(user.pk), "backend": user.backend, "at": time.time(),
                                             "hash": user.get_session_auth_hash()}
        next_url = self.get_redirect_url()
        return redirect(reverse("login_code") + (f"?{urlencode({'next': next_url})}" if next_url else ""))


def _pending_user(request: HttpRequest) -> tuple[User | None, dict[str, Any]]:
    pending = request.session.get(PENDING_KEY) or {}
    if not pending or time.time() - float(pending.get("at", 0)) > settings.LOUPE_2FA_PENDING_SECONDS:
        return None, {}
    user = User.objects.select_related("membership__client").filter(pk=pending.get("user")).first()
    if (user is None or not user.is_active or not user.company_allows_access()
            or not constant_time_compare(user.get_session_auth_hash(), pending.get("hash", ""))):
        return None, {}
    return user, pending


def _safe_next(request: HttpRequest) -> str:
    """Where to go afterwards: a path on this site only (never another host)."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    ok = url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return next_url if ok else ""


def login_code(request: HttpRequest) -> HttpResponse:
    """The second step: the authenticator's code or a recovery code. Wrong codes count towards the
    same lockout as wrong passwords, for the address and the network address alike."""
    user, pending = _pending_user(request)
    if user is None:
        request.session.pop(PENDING_KEY, None)
        messages.info(request, "Sign in again: the sign-in waited too long for its code.")
        return redirect("login")
    next_url = _safe_next(request)
    error, status = "", 200
    if request.method == "POST":
        credentials = {"username": user.email}
        if is_locked_out(request, credentials):
            request.session.pop(PENDING_KEY, None)
            return lockout_response(request)
        device = two_factor.verify(user, request.POST.get("code", ""))
        if device is None:
            user_login_failed.send(sender=__name__, request=request,
                                   credentials={**credentials, "loupe_reason": "wrong second-factor code"})
            if getattr(request, "axes_locked_out", False):
                request.session.pop(PENDING_KEY, None)
                return lockout_response(request)
            error, status = two_factor.WRONG_CODE + " Or use one of your recovery codes.", 400
        else:
            request.session.pop(PENDING_KEY, None)
            user.otp_device = device  # django-otp keeps it in the session: request.user.is_verified()
            auth_login(request, user, backend=pending["backend"])
            if device._meta.model_name == "staticdevice":
                left = two_factor.recovery_codes_left(user)
                messages.warning(request, f"You signed in with a recovery code; {left} left. Make new ones on your "
                                          "profile if you are running out.")
            return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    return render(request, "registration/login_code.html", {"error": error, "next": next_url}, status=status)


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset form with limits: a few mails per address and per client address an hour. Over
    the limit the page answers exactly as usual (it never says whether an address exists) and sends
    nothing."""

    form_class = LoupePasswordResetForm
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form: Any) -> HttpResponse:
        # the link leads to the studio's domain, as every mailed link does (never the Host the request named)
        shown = brand.current()
        self.from_email = shown.sender
        self.extra_email_context = {"base_url": shown.base_url, "studio": shown.name,
                                    "hours": settings.PASSWORD_RESET_TIMEOUT // 3600}
        email = form.cleaned_data["email"].strip().lower()
        ip = client_ip(self.request)
        if not (allow("password-reset-email", email, limit=settings.LOUPE_RESET_MAILS_PER_ADDRESS, window_seconds=3600)
                and allow("password-reset-ip", ip, limit=settings.LOUPE_RESET_MAILS_PER_IP, window_seconds=3600)):
            logger.warning("password reset throttled for a request from %s", ip)
            return redirect(self.get_success_url())
        return super().form_valid(form)


class LoupeSetPasswordForm(SetPasswordForm):
    """Choosing a password from a one-time link, in Loupe's words rather than Django's stock texts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].label = "Password"
        self.fields["new_password1"].help_text = HOW_TO_CHOOSE
        self.fields["new_password2"].label = "The same password again"
        self.fields["new_password2"].help_text = ""


HOW_TO_CHOOSE = ("At least 10 characters; not a common password, not only digits, and not like your name "
                       "or e-mail address. A phrase of a few words is easy to remember.")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """The page a one-time link opens: accepting an invitation (the person has no password yet) or
    resetting a password. Saving signs the person in (unless two-factor sign-in is on: then the code is
    still asked at the sign-in page) and lifts a login lockout on that address: the owner of the mailbox
    proved who they are, whoever failed logins from elsewhere."""

    form_class = LoupeSetPasswordForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = getattr(self, "user", None)
        if context.get("validlink") and user is not None:
            membership = getattr(user, "membership", None)
            context.update(invitation=not user.has_usable_password(), person=user,
                           company=membership.client.name if membership else "", studio=brand.current().name)
        return context

    def render_to_response(self, context: dict[str, Any], **response_kwargs: Any) -> HttpResponse:
        if context.get("validlink") is False:
            response_kwargs["status"] = 410  # used or expired: the page says so and offers a new link
        return super().render_to_response(context, **response_kwargs)

    def form_valid(self, form: Any) -> HttpResponse:
        # A link works once, also when it is posted many times at once: the person's row is locked and
        # the link checked again under the lock, so every post after the first finds it used.
        with transaction.atomic():
            locked = User.objects.select_for_update().get(pk=form.user.pk)
            token = self.request.session.get(auth_views.INTERNAL_RESET_SESSION_TOKEN, "")
            if not self.token_generator.check_token(locked, token):
                self.validlink = False  # Django's context reads it: the page says the link is used
                return self.render_to_response(self.get_context_data())
            form.user = locked
            accepted = not locked.has_usable_password()
            super().form_valid(form)  # saves the password and forgets the link
        axes_reset(username=locked.email.lower())
        security_log.record(security_log.Kind.PASSWORD_CHANGED, subject=locked,
                            detail="invitation accepted" if accepted else "reset through an e-mail link")
        if two_factor.is_enabled(locked) or not locked.company_allows_access():
            messages.success(self.request, "Your password is saved. Sign in with it and your authenticator's code.")
            return redirect("login")
        auth_login(self.request, locked, backend="agency.auth.UserBackend")
        messages.success(self.request, f"Welcome to {brand.current().name}, {locked.full_name}: your password "
                         "is saved and you are signed in." if accepted else "Your new password is saved; you are "
                         "signed in.")
        return redirect("home")


class PasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        security_log.record(security_log.Kind.PASSWORD_CHANGED, actor=self.request.user, detail="on the profile")
        return response


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each person lands where their work is: a retoucher's or QC's own queue, finance's invoices,
    everyone else's order list, which puts the orders waiting for them first."""
    mine = {url_name for url_name, _label in navigation.items_for(request.user)}
    landing = landing_page(request.user)
    return redirect(landing if landing in mine else "jobs:order_list")


class ProfileForm(forms.ModelForm):
    time_zone = TimeZoneField(label="Time zone", empty="The zone of your company (or of the studio)",
                              help_text="Times on pages and in mails are shown in this zone.")

    class Meta:
        model = User
        fields = ["full_name", "time_zone"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].keep(self.instance.time_zone)


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    details = request.method == "POST" and request.POST.get("form") != "notifications"
    form = ProfileForm(request.POST if details else None, instance=request.user)
    kinds = notifications.kinds_for(request.user)
    if request.method == "POST" and request.POST.get("form") == "notifications":
        for kind in kinds:
            notifications.set_preference(request.user, kind=kind.code, email=bool(request.POST.get(f"email_{kind.code}")),
                                         bell=bool(request.POST.get(f"bell_{kind.code}")))
        messages.success(request, "Your notification choices have been saved.")
        return redirect(reverse("profile") + "#notifications")
    if request.method == "POST" and form.is_valid():
        user_update_profile(user=request.user, **form.cleaned_data)
        messages.success(request, "Your profile has been saved.")
        return redirect("profile")
    return _profile(request, form)


def _profile(request: HttpRequest, form: Any = None, status: int = 200, **tokens: Any) -> HttpResponse:
    kinds = notifications.kinds_for(request.user)
    prefs = {p.kind: p for p in NotificationPreference.objects.filter(user=request.user)}
    rows = [{"kind": k, "email": prefs[k.code].email if k.code in prefs else True,
             "bell": prefs[k.code].bell if k.code in prefs else True} for k in kinds]
    return render(request, "agency/profile.html", {
        "form": form or ProfileForm(instance=request.user), "notification_rows": rows,
        "tokens": list(token_list(request.user)), "token_days": settings.LOUPE_API_TOKEN_DAYS, **tokens,
        "two_factor_on": two_factor.is_enabled(request.user), "two_factor_required": two_factor.required_for(request.user),
    }, status=status)


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    """Create a named personal API token and show its secret on this answer only (no redirect, so
    the secret is never stored in a session or a later page)."""
    name = request.POST.get("name", "")
    try:
        token, key = services.token_create(user=request.user, name=name)
    except RuleViolation as exc:
        return _profile(request, status=400, token_error=exc.message, token_name=name[:100])
    return no_store(_profile(request, new_key=key, new_token=token))


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: Any) -> HttpResponse:
    token = get_object_or_404(token_list(request.user), pk=pk)
    services.token_revoke(token=token, by=request.user)
    messages.success(request, f"The token “{token.name or token.prefix}” is revoked.")
    return redirect(reverse("profile") + "#tokens")


SETUP_KEY = "loupe_2fa_setup_secret"


@login_required
def two_factor_page(request: HttpRequest) -> HttpResponse:
    """Set up, confirm, renew recovery codes for or turn off two-factor sign-in. Codes and the
    secret are shown on the answer to the request that made them, never stored for a later page."""
    user = request.user
    next_url = _safe_next(request)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    code = request.POST.get("code", "")
    context: dict[str, Any] = {"next": next_url, "required": two_factor.required_for(user)}
    status = 200
    try:
        if action == "confirm":
            device, codes = two_factor.confirm(user=user, secret=request.session.get(SETUP_KEY, ""), code=code)
            request.session.pop(SETUP_KEY, None)
            update_session_auth_hash(request, user)  # this session stays; the others end
            otp_login(request, device)
            return no_store(render(request, "agency/two_factor_codes.html", {**context, "codes": codes, "new": True}))
        if action == "codes":
            codes = two_factor.regenerate_codes(user=user, code=code)
            return no_store(render(request, "agency/two_factor_codes.html", {**context, "codes": codes}))
        if action == "disable":
            two_factor.disable(user=user, code=code)
            messages.success(request, "Two-factor sign-in is off. Your password alone signs you in again.")
            return redirect(reverse("profile") + "#two-factor")
        if action:
            raise RuleViolation("Choose what to do: confirm, new recovery codes or turn off.", field="action")
    except RuleViolation as exc:
        context["error"], status = exc.message, 400
    if two_factor.is_enabled(user):
        context.update(enabled=True, codes_left=two_factor.recovery_codes_left(user))
    else:
        if not request.session.get(SETUP_KEY):
            request.session[SETUP_KEY] = two_factor.new_secret()
        device = two_factor.setup_device(user, request.session[SETUP_KEY])
        secret = base64.b32encode(device.bin_key).decode()
        context.update(secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
                       qr=segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2))
    return no_store(render(request, "agency/two_factor.html", context, status=status))


def no_store(response: HttpResponse) -> HttpResponse:
    """Answers that show a secret once (a token, a webhook secret, recovery codes) are never cached."""
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def notification_bell(request: HttpRequest) -> HttpResponse:
    """The bell with its count, for a live page to swap in when the person's stream says something came."""
    return render(request, "includes/bell.html", {"unread_notifications": notifications.unread_count(request.user)})


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    """The bell's page: the user's notifications, newest first; one click marks them all read."""
    if request.method == "POST":
        ids = request.POST.getlist("ids")
        try:
            ids = [str(uuid.UUID(i)) for i in ids]
        except ValueError as exc:
            raise RuleViolation("Notifications are named by their id.", field="ids") from exc
        notifications.mark_read(request.user, ids or None)  # no ids: the page's "Mark all read"
        return redirect("notifications")
    page = Paginator(Notification.objects.filter(user=request.user), 30).get_page(request.GET.get("page"))
    return render(request, "agency/notifications.html", {"page": page,
                                                         "unread": notifications.unread_count(request.user),
                                                         "query": request.GET.copy()})


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page says; send them to the (versioned) static file."""
    response = HttpResponsePermanentRedirect(static("favicon.ico"))
    response["Cache-Control"] = "public, max-age=86400"
    return response


@require_GET
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Database, task broker and file storage: 200 when all answer, 503 naming the failing part."""
    ok, checks = health_checks.run(["database", "broker", "storage"])
    response = JsonResponse({"status": "ok" if ok else "failing", "checks": checks}, status=200 if ok else 503)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """For load balancers: this process serves requests (it reaches its database)."""
    ok, checks = health_checks.run(["database"])
    response = JsonResponse({"status": "ready" if ok else "not ready", "checks": checks}, status=200 if ok else 503)
    response["Cache-Control"] = "no-store"
    return response


def _wants_problem(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def api_not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any unknown path under /api/ answers problem+json, also with DEBUG on (Django's debug 404
    page would answer HTML)."""
    return problem_response(404, "Not Found", "No such resource.")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_problem(request):
        return problem_response(404, "Not Found", "No such resource.")
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_problem(request):
        return problem_response(500, "Internal Server Error",
                                "Something went wrong on our side. It has been logged.")
    return render(request, "500.html", status=500)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = str(exception) if exception and str(exception) else "Your role does not allow this page or action."
    if _wants_problem(request):
        return problem_response(403, "Forbidden", reason)
    return refused(request, 403, reason)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form or API call without its CSRF token (an expired page, or a script sending the session
    cookie instead of its API token): problem+json under /api/, the site's refusal page elsewhere."""
    message = ("The request's CSRF token is missing or expired. Reload the page and try again; scripts send "
               "their API token (Authorization: Token …) rather than the session cookie.")
    if _wants_problem(request):
        return problem_response(403, "CSRF check failed", message)
    return refused(request, 403, message)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_problem(request):
        return problem_response(400, "Bad Request", "The request could not be understood.")
    return render(request, "400.html", status=400)


REFUSAL_TITLES = {400: "Please check your input", 403: "Not allowed", 409: "Not possible right now"}


def refused(request: HttpRequest, status: int, reason: str) -> HttpResponse:
    """A refused action on a page: its status (400, 403 or 409) with the reason on the page, never a
    redirect with a flash message, so what the user reads is what a test can see."""
    back = request.META.get("HTTP_REFERER", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    return render(request, "refused.html", {"title": REFUSAL_TITLES.get(status, "Refused"), "reason": reason,
                                            "back": back}, status=status)


@csrf_exempt
def local_upload(request: HttpRequest, token: str) -> HttpResponse:
    """The local backend's presigned PUT: the signed token names the key, part and exact size."""
    backend = get_backend()
    if request.method != "PUT" or not isinstance(backend, LocalBackend):
        return problem_response(405 if request.method != "PUT" else 404, "Not allowed", "Use PUT on an upload URL.")
    try:
        payload = backend.read_upload_token(token)
    except signing.SignatureExpired:
        return problem_response(403, "Expired", "This upload URL has expired; ask for a new one.")
    except signing.BadSignature:
        return problem_response(403, "Forbidden", "This upload URL is not valid.")
    declared = request.META.get("CONTENT_LENGTH")
    if declared and declared.isdigit() and int(declared) > payload["s"]:
        return problem_response(413, "Too large", f"This URL accepts exactly {payload['s']} bytes.")
    try:
        etag = backend.receive(payload, request)
    except UploadError as exc:
        return problem_response(413 if "larger than" in exc.reason else 400, "Upload refused", exc.reason)
    response = HttpResponse(status=200)
    response["ETag"] = etag
    return response


@require_GET
def local_file(request: HttpRequest, token: str) -> HttpResponse:
    """The local backend's presigned GET: a short-lived, signed link to one stored file."""
    backend = get_backend()
    if not isinstance(backend, LocalBackend):
        raise Http404
    try:
        payload = backend.read_download_token(token)
    except signing.BadSignature:
        return HttpResponse("This download link is not valid or has expired.", status=403, content_type="text/plain")
    try:
        handle = backend.path(payload["k"]).open("rb")
    except (FileNotFoundError, UploadError) as exc:
        raise Http404 from exc
    response = FileResponse(handle, content_type=payload.get("t") or "application/octet-stream")
    response["Content-Disposition"] = "inline" if payload.get("i") else content_disposition(payload["f"])
    response["Cache-Control"] = "private, max-age=300"
    return response
