"""The storefront's pages: the studio's public home, a client admin's rating of an order, and the panels the
order page and the quality report load over htmx (jobs never imports the storefront)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from agency.forms import run_service
from agency.permissions import require
from jobs.models import OrderStatus
from jobs.selectors import order_get
from storefront import permissions, selectors, services
from storefront.forms import RatingForm


def _public(response: HttpResponse) -> HttpResponse:
    """Public pages may be kept by a cache only if it asks again each time: what a client withdraws
    leaves the site at once."""
    response["Cache-Control"] = "public, no-cache"
    return response


@require_GET
def studio_home(request: HttpRequest) -> HttpResponse:
    """The studio's public home: what clients say (every rating of the last twelve months counted)."""
    ratings = selectors.public_ratings()
    stars = [(n, ratings.stars[n], round(100 * ratings.stars[n] / ratings.count) if ratings.count else 0)
             for n in range(5, 0, -1)]
    return _public(render(request, "storefront/home.html", {
        "ratings": ratings, "stars": stars, "studio": settings.LOUPE_STUDIO_NAME}))


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
