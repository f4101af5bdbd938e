"""Who may do what with orders. Plain functions used by pages, the API and workflow alike; they
assume the order is already inside the user's scope (``clients.tenancy.scope``)."""

from __future__ import annotations

from typing import Any

from agency import permissions as agency_permissions
from agency.models import ALL_ORDERS_ROLES, MANAGER_ROLES, Role
from agency.permissions import signed_in
from clients.models import Client
from clients.tenancy import client_id_of
from jobs.models import READ_BY_CLIENTS, READ_BY_MANAGERS, READ_BY_WORKERS, Assignment, DeliveryItem, Order, OrderStatus


def _is_own_client(user: Any, client_id: Any) -> bool:
    return user.is_client and client_id_of(user) == client_id


def can_create_order(user: Any, client: Client | None = None) -> bool:
    """Client users for their own company; account managers and admins for any company."""
    if not signed_in(user):
        return False
    if user.role in MANAGER_ROLES:
        return True
    return user.is_client and client_id_of(user) is not None and (client is None or _is_own_client(user, client.pk))


def can_edit_order(user: Any, order: Order) -> bool:
    return user.role in MANAGER_ROLES or _is_own_client(user, order.client_id)


def can_submit_order(user: Any, order: Order) -> bool:
    return can_edit_order(user, order)


def can_cancel_order(user: Any, order: Order) -> bool:
    """Account managers cancel any cancellable order; a client may discard its own draft."""
    if user.role in MANAGER_ROLES:
        return True
    return _is_own_client(user, order.client_id) and order.status == OrderStatus.DRAFT


def can_hold_order(user: Any, order: Order) -> bool:
    return user.role in MANAGER_ROLES


can_resume_order = can_hold_order


def readable_audiences(user: Any) -> frozenset[str]:
    """The timeline lines a person reads: a client user the client's; retouchers and QC the client's and
    the studio's; the money and planning roles every line."""
    if is_client_user(user):
        return READ_BY_CLIENTS
    if (signed_in(user) and user.role) in {Role.RETOUCHER, Role.QC}:
        return READ_BY_WORKERS
    return READ_BY_MANAGERS


def can_see_internal_events(user: Any) -> bool:
    return user.is_authenticated and user.is_studio


def can_upload_images(user: Any, order: Order) -> bool:
    """The order's client users and account managers add, complete and remove images."""
    return can_edit_order(user, order)


def can_grade_complexity(user: Any) -> bool:
    """Complexity drives the price and the minutes, so the studio grades it when it quotes."""
    return user.role in MANAGER_ROLES


def can_download_original(user: Any, order: Order) -> bool:
    """Everyone who can see the order may download its originals, except finance (no use for them)."""
    return user.role != Role.FINANCE


def can_download_master(user: Any, order: Order) -> bool:
    """A retouched master file is the studio's: clients download their delivery's renditions instead."""
    return not is_client_user(user) and can_download_original(user, order)


def can_export_company_data(user: Any) -> bool:
    """Ask for and download a company's archive: a client admin (their company's), the studio's managers (any)."""
    return signed_in(user) and (user.role in MANAGER_ROLES or user.role == Role.CLIENT_ADMIN)


def can_hold_files(user: Any) -> bool:
    """Place or lift an order's legal hold (nothing of it is deleted while it lasts): account managers and admins."""
    return signed_in(user) and user.role in MANAGER_ROLES


def can_schedule(user: Any) -> bool:
    """Assign and reassign work, apply the proposed schedule: account managers and admins."""
    return signed_in(user) and user.role in MANAGER_ROLES


def can_deliver(user: Any, order: Order | None = None) -> bool:
    """Publish a delivery to the client: account managers and admins."""
    return signed_in(user) and user.role in MANAGER_ROLES


def can_view_workload(user: Any) -> bool:
    return can_schedule(user)


def can_view_studio_reports(user: Any) -> bool:
    """The turnaround dashboard and the on-time report: roles that see every client's orders."""
    return signed_in(user) and user.role in ALL_ORDERS_ROLES


def can_work_on(user: Any, image: Any) -> bool:
    """Start work on an image and upload its versions: the retoucher it is assigned to."""
    return (signed_in(user) and user.role == Role.RETOUCHER
            and Assignment.objects.filter(image=image, retoucher=user, active=True).exists())


def can_review_qc(user: Any) -> bool:
    """Pass or send back a version: QC reviewers and admins."""
    return signed_in(user) and user.role in {Role.QC, Role.ADMIN}


def can_review_delivery(user: Any, order: Order) -> bool:
    """Approve delivered images or request changes: the client's users, an account manager acting for the
    client (the timeline says so), or a guest whose review link a client admin let decide (on that order)."""
    if agency_permissions.is_guest(user):
        return bool(user.can_decide) and user.delivery.order_id == order.pk
    return _is_own_client(user, order.client_id) or user.role in MANAGER_ROLES


def decides_review_alone(user: Any, order: Order) -> bool:
    """Whose approval is the company's at once, whatever required reviewers a delivery names
    (``jobs.review.reviewers``): the company's admins, and the studio's managers acting for it (the timeline says so).
    The company's other people and guests are reviewers among others."""
    if agency_permissions.is_guest(user):
        return False
    return is_client_admin(user) and _is_own_client(user, order.client_id) or user.role in MANAGER_ROLES


def can_share_delivery(user: Any, order: Order) -> bool:
    """Send personal review links for a delivery to people without an account, see and revoke them: an
    admin of the client's company, or the studio's managers for any company."""
    return is_client_admin(user) and _is_own_client(user, order.client_id) or runs_orders(user)


def can_open_shares(user: Any) -> bool:
    """See review links and their activity at all: client admins (their company's) and the studio's managers."""
    return is_client_admin(user) or runs_orders(user)


def can_let_guests_decide(user: Any, order: Order) -> bool:
    """Let a guest approve or request changes (it commits the company, and a revision round may cost money):
    the company's own admins only."""
    return is_client_admin(user) and _is_own_client(user, order.client_id)


def can_decide_for_client(user: Any, order: Order) -> bool:
    """Commit the client's money (accept a quote, confirm a billable round): an admin of the client's
    company, or the studio's admin acting on their behalf."""
    if user.role == Role.ADMIN:
        return True
    return user.role == Role.CLIENT_ADMIN and _is_own_client(user, order.client_id)


can_confirm_round = can_decide_for_client


# Who acts next on an order in the user's scope (jobs.next_step): the client's people, the client's
# admins (who commit money), the studio's managers.
is_client_user = agency_permissions.is_client_user


def is_client_admin(user: Any) -> bool:
    return signed_in(user) and user.role == Role.CLIENT_ADMIN


def runs_orders(user: Any) -> bool:
    """The studio's side of an order (quote, schedule, deliver): account managers and admins."""
    return signed_in(user) and user.role in MANAGER_ROLES


def can_choose_reference(user: Any, order: Order) -> bool:
    """Make approved work the style guide's golden reference: the company's admins (it changes what
    every later order is judged against), or the studio's managers for them."""
    return is_client_admin(user) and _is_own_client(user, order.client_id) or runs_orders(user)


def can_classify_revisions(user: Any) -> bool:
    """Reclass a revision item as defect or change: account managers and admins."""
    return signed_in(user) and user.role in MANAGER_ROLES


def can_post_message(user: Any, order: Order, *, internal: bool) -> bool:
    """Clients write in their orders' thread; the studio writes there and in its internal notes."""
    if internal:
        return user.is_studio and user.role != Role.FINANCE
    return _is_own_client(user, order.client_id) or user.role in MANAGER_ROLES


def can_view_quality_report(user: Any) -> bool:
    return can_view_studio_reports(user)


def can_view_qc_queue(user: Any) -> bool:
    return can_review_qc(user)


def can_open_studio_work(user: Any) -> bool:
    """An image's workspace and a version's QC page: the studio's pages (their scope still decides
    which images and versions)."""
    return agency_permissions.is_studio_user(user)


def can_view_work_queue(user: Any) -> bool:
    return signed_in(user) and user.role == Role.RETOUCHER


# Studio roles that work across every client's orders (besides the account managers): who a thread may name.
ACROSS_ORDERS = frozenset({Role.QC, Role.ADMIN})


def can_annotate(user: Any, order: Order, image: Any) -> bool:
    """Draw marks and write in their threads (resolve and reopen too): the client's users, the studio's
    managers, QC, and the retoucher the image is assigned to. Finance reads no pictures' threads. A guest marks
    and replies on the pictures of their link's delivery while the link lasts (``jobs.review.annotations`` lets
    them resolve nothing)."""
    if agency_permissions.is_guest(user):
        return (user.is_active and user.delivery.order_id == order.pk
                and DeliveryItem.objects.filter(delivery_id=user.delivery_id, image_id=image.pk).exists())
    if not signed_in(user):
        return False
    if user.is_client:
        return _is_own_client(user, order.client_id)
    return user.role in MANAGER_ROLES or can_review_qc(user) or can_work_on(user, image)


def can_write_to_client(user: Any, order: Order) -> bool:
    """A mark or reply the client reads: the client's own people, and the studio's managers (who speak
    for the studio). Retouchers' and QC's marks are studio-only, like their notes."""
    return can_post_message(user, order, internal=False)
