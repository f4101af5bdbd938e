"""Free trials (issue 23, docs/storefront.md): a prospect asks for one, usually from their instant estimate; a
manager accepts or declines it.

``trial_request`` is the one writer of requests (the public page and ``POST /api/v1/public/trials/``), and
``trial_accept`` / ``trial_decline`` the one way a request moves (``TRIALS``). Accepting creates, in one
transaction, the company (its country and VAT id checked as on the client form), its first style guide, the contact
invited as its client admin, and a draft order of at most the trial's pictures that is free of charge
(``Order.free_pictures``: the quote prices the work and takes it off again, with no minimum) and is a pilot as a
whole (``jobs.production.pilots``): what the new client asks to change on it goes into the style guide. A refusal
anywhere (the company or the address already known) leaves nothing behind.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from agency.exceptions import NotPermitted, RuleViolation
from agency.models import Role, User
from agency.notifications import notify
from agency.statemachine import StateTable
from agency.tasks import enqueue_on_commit
from clients import services as clients
from clients import vat
from clients.models import Client, validate_country
from jobs.models import Order, Turnaround
from jobs.selectors import service_list
from jobs.services import order_create
from storefront.estimates import checked_choice
from storefront.estimates import live as live_estimate
from storefront.models import Estimate, TrialRequest, TrialStatus
from storefront.permissions import can_answer_trials

T = TrialStatus
TRIALS = StateTable("trial", dict(T.choices))
TRIALS.add("accept", {T.REQUESTED}, T.ACCEPTED)
TRIALS.add("decline", {T.REQUESTED}, T.DECLINED)

MESSAGE_MAX = 2000


def offered() -> int:
    """How many pictures the studio retouches free for a trial (``LOUPE_TRIAL_PICTURES``; 0: no trials)."""
    return max(0, int(settings.LOUPE_TRIAL_PICTURES))


def _text(value: Any, field: str, words: str, limit: int) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        raise RuleViolation(f"Give {words}.", field=field)
    if len(text) > limit:
        raise RuleViolation(f"{words[0].upper()}{words[1:]} can be at most {limit} characters.", field=field)
    return text


def checked_request(*, company: Any, contact_name: Any, email: Any, country: Any, vat_number: Any = "",
                    pictures: Any, services: list[str], message: Any = "") -> dict[str, Any]:
    """The request's fields, each refused with the field it concerns (the same checks the client form makes)."""
    fields = {"company": _text(company, "company", "your company's name", 200),
              "contact_name": _text(contact_name, "contact_name", "your name", 150)}
    address = str(email or "").strip().lower()
    try:
        validate_email(address)
    except ValidationError:
        raise RuleViolation("Give an e-mail address the studio can answer.", field="email") from None
    fields["email"] = address
    code = str(country or "").strip().upper()
    try:
        validate_country(code)
    except ValidationError:
        raise RuleViolation("Choose your company's country (two letters, such as FR or US).", field="country") from None
    fields["country"] = code
    number = str(vat_number or "").strip()
    if number:
        problem = vat.problem(number, code)
        if problem:
            raise RuleViolation(problem, field="vat_number")
        number = vat.clean(number)
    fields["vat_number"] = number
    chosen, count = checked_choice(services=services, turnaround=Turnaround.STANDARD, count=pictures)
    if count > offered():
        raise RuleViolation(f"The studio retouches up to {offered()} pictures free for a trial.", field="pictures")
    fields.update(pictures=count, services=[s.code for s in chosen],
                  message=str(message or "").strip()[:MESSAGE_MAX])
    return fields


def _estimate_summary(estimate: Estimate) -> str:
    ready = f", ready {estimate.ready_by:%a %d %b %Y}" if estimate.ready_by else ""
    return f"{estimate.count} pictures: {estimate.price} {estimate.currency} net{ready}"[:300]


@transaction.atomic
def trial_request(*, estimate_id: Any = None, ip_address: str | None = None, **fields: Any) -> TrialRequest:
    """Record a prospect's request and tell the studio's managers. Refused (400, naming the field) for bad input,
    and when the studio offers no trials."""
    if not offered():
        raise RuleViolation("The studio does not offer free trials at the moment; ask it for a quote.", field="pictures")
    checked = checked_request(**fields)
    estimate = None
    if estimate_id:
        estimate = live_estimate(estimate_id)
        if estimate is None:
            raise RuleViolation("That estimate has expired; ask for the trial without it, or estimate again.",
                                field="estimate")
    trial = TrialRequest.objects.create(**checked, estimate=estimate, ip_address=ip_address,
                                        estimate_summary=_estimate_summary(estimate) if estimate else "")
    enqueue_on_commit("storefront.tasks.announce_trial", str(trial.pk), group="notifications")
    return trial


def announce_trial(trial_id: Any) -> int:
    """Tell the studio's managers about a new request (the task's body, after commit)."""
    trial = TrialRequest.objects.filter(pk=trial_id).first()
    if trial is None:
        return 0
    managers = User.objects.filter(role__in=[Role.ACCOUNT_MANAGER, Role.ADMIN], is_active=True)
    return notify(managers, kind="trial_requested", source=f"trial:{trial.pk}",
                  title=f"{trial.company} asks for a free trial of {trial.pictures} pictures",
                  body=trial.message[:300], url=f"/trials/{trial.pk}/")


def _locked(trial: TrialRequest) -> TrialRequest:
    return TrialRequest.objects.select_for_update().get(pk=trial.pk)


def _refusal(trial: TrialRequest) -> str:
    return f"The trial for {trial.company} is {{state}}; only a request waiting for an answer can be answered."


@transaction.atomic
def trial_accept(*, trial: TrialRequest, by: User) -> TrialRequest:
    """Accept: the company, its first style guide, its admin (invited by mail) and its free first order, at once.
    Account managers and admins only; refused when the company's name or the contact's address is already known
    (nothing is created then)."""
    if not can_answer_trials(by):
        raise NotPermitted("Only an account manager answers trial requests.")
    trial = _locked(trial)
    TRIALS.check("accept", trial, _refusal(trial))
    if Client.objects.filter(name__iexact=trial.company).exists():
        raise RuleViolation(f"A company named {trial.company} is already a client; give it its trial as an order "
                            "there, or decline this request.", field="company")
    client = clients.client_create(by=by, name=trial.company, billing_email=trial.email, billing_country=trial.country,
                                   vat_number=trial.vat_number, account_manager=by)
    clients.member_add(client=client, by=by, email=trial.email, full_name=trial.contact_name, role=Role.CLIENT_ADMIN)
    guide = clients.style_guide_create(client=client, by=by, name="First style guide", output_formats=["JPEG"],
                                       notes=_guide_notes(trial))
    order = order_create(client=client, created_by=by, title=f"Free trial: {trial.pictures} pictures", style_guide=guide,
                         services=service_list().filter(code__in=trial.services), turnaround=Turnaround.STANDARD,
                         instructions=trial.message)
    Order.objects.filter(pk=order.pk).update(free_pictures=trial.pictures)
    TRIALS.move(trial, "accept")
    trial.decided_by, trial.decided_at, trial.client, trial.order = by, timezone.now(), client, order
    trial.save(update_fields=["status", "decided_by", "decided_at", "client", "order"])
    return trial


def _guide_notes(trial: TrialRequest) -> str:
    text = "Made for the free trial; the studio completes it with you, and the trial's changes are added here."
    return f"{text}\n\nFrom the request: {trial.message}" if trial.message else text


@transaction.atomic
def trial_decline(*, trial: TrialRequest, by: User, reason: str) -> TrialRequest:
    """Decline with a reason, which the contact is told by mail. Account managers and admins only."""
    if not can_answer_trials(by):
        raise NotPermitted("Only an account manager answers trial requests.")
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise RuleViolation("Say why, so that the company knows (it is sent to them).", field="reason")
    trial = _locked(trial)
    TRIALS.check("decline", trial, _refusal(trial))
    TRIALS.move(trial, "decline")
    trial.decided_by, trial.decided_at, trial.decline_reason = by, timezone.now(), reason[:500]
    trial.save(update_fields=["status", "decided_by", "decided_at", "decline_reason"])
    enqueue_on_commit("storefront.tasks.send_trial_declined", str(trial.pk), group="mail")
    return trial
