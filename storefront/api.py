"""The storefront's API: an order's rating (its company's admins write it), and the public figures
(anonymous, rate-limited per network address)."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agency.exceptions import NotPermitted, problem_response
from agency.throttle import PerAddress
from jobs.selectors import order_get
from storefront import permissions, selectors, services
from storefront.serializers import RatingInputSerializer, RatingSerializer


class PublicThrottle(PerAddress):
    scope, limit, window_seconds = "public-api", 120, 60


class OrderRatingView(APIView):
    @extend_schema(responses={200: RatingSerializer, 404: None}, summary="The company's rating of an order (404 when "
                   "it has none yet)")
    def get(self, request: Request, pk: Any) -> Response | JsonResponse:
        order = order_get(request.user, pk)
        if not permissions.can_see_order_rating(request.user, order):
            raise NotPermitted("The company's people and the studio's managers read an order's rating.")
        rating = selectors.order_rating(request.user, order)
        if rating is None:
            return problem_response(status.HTTP_404_NOT_FOUND, "Not found",
                                    f"{order.client.name} has not rated {order.number} yet.")
        return Response(RatingSerializer(rating).data)

    @extend_schema(request=RatingInputSerializer, responses={200: RatingSerializer},
                   summary="Rate a completed order, or change the rating (a client admin of its company)")
    def put(self, request: Request, pk: Any) -> Response:
        order = order_get(request.user, pk)
        data = RatingInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rating = services.rating_give(order=order, by=request.user, **data.validated_data)
        return Response(RatingSerializer(selectors.order_rating(request.user, order) or rating).data)


class PublicRatingsView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicThrottle]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="The studio's ratings: average and count over every "
                   "rating of the last twelve months, per score, and the comments their authors published")
    def get(self, request: Request) -> Response:
        response = Response(selectors.public_ratings().as_data())
        response["Cache-Control"] = "public, no-cache"
        return response
