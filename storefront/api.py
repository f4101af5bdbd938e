"""The storefront's API: an order's rating (its company's admins write it), and the public figures
(anonymous, rate-limited per network address)."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agency.auth import client_ip
from agency.exceptions import NotPermitted, RuleViolation, problem_response
from agency.throttle import PerAddress
from agency.uploads import size_words
from jobs.selectors import order_get
from storefront import estimates, permissions, selectors, services, trials
from storefront.models import Piece, PortfolioService
from storefront.serializers import (
    ConsentInputSerializer,
    EstimateInputSerializer,
    EstimateSerializer,
    PairInputSerializer,
    PairSerializer,
    PairUpdateSerializer,
    RatingInputSerializer,
    RatingSerializer,
    TrialDeclineSerializer,
    TrialInputSerializer,
    TrialReceiptSerializer,
    TrialSerializer,
)


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


class RatingVisibilitySerializer(serializers.Serializer):
    hidden = serializers.BooleanField(help_text="true takes the published comment off the public page, false shows it.")
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="",
                                   help_text="Why (needed to hide; its author reads it).")


class OrderRatingVisibilityView(APIView):
    @extend_schema(request=RatingVisibilitySerializer, responses={200: RatingSerializer},
                   summary="Take the order's published comment off the public page, saying why, or show it again "
                           "(the studio's managers; the rating still counts)")
    def post(self, request: Request, pk: Any) -> Response:
        order = order_get(request.user, pk)
        data = RatingVisibilitySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(RatingSerializer(services.comment_visibility(order=order, by=request.user,
                                                                     **data.validated_data)).data)


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


class EstimateThrottle(PerAddress):
    """Grading decodes photographs: twenty estimates an hour per network address."""

    scope, limit, window_seconds = "public-estimate", 20, 3600


def refuse_large_body(request: Any) -> None:
    """A body larger than five samples at their limit is refused before anything reads it."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > estimates.max_request_bytes():
        raise RuleViolation(f"Send at most {estimates.MAX_SAMPLES} samples of at most "
                            f"{size_words(estimates.max_sample_bytes())} each.", field="files")


def estimate_input(request: Any) -> dict[str, Any]:
    """The estimate's form fields as ``estimates.estimate_create`` takes them (the page and the API); ``services``
    repeated or comma-separated. The body's size is checked first (``refuse_large_body``)."""
    refuse_large_body(request)
    data, files = request.POST, request.FILES  # a page's request or DRF's (which parses them the same way)
    services = [code for value in data.getlist("services") for code in value.split(",")]
    return {"files": files.getlist("files"), "services": services, "turnaround": data.get("turnaround", ""),
            "count": data.get("count", "")}


class PublicEstimateView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [EstimateThrottle]
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": EstimateInputSerializer}, responses={201: EstimateSerializer},
                   summary="An instant estimate for pictures like the samples: the price the studio's quote would give, "
                           "the date the live schedule allows, and each sample's measured grade (anonymous, 20 an hour "
                           "per address; the samples are deleted at once)")
    def post(self, request: Request) -> Response:
        made = estimates.estimate_create(**estimate_input(request))
        response = Response(EstimateSerializer(made).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


class TrialThrottle(PerAddress):
    """A trial request reaches the studio's managers: ten an hour per network address."""

    scope, limit, window_seconds = "public-trial", 10, 3600


class PublicTrialView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [TrialThrottle]

    @extend_schema(request=TrialInputSerializer, responses={201: TrialReceiptSerializer},
                   summary="Ask the studio for a free trial (anonymous, ten an hour per address): a manager accepts it "
                           "(you are invited as your company's admin with a free first order) or declines it, by mail")
    def post(self, request: Request) -> Response:
        data = TrialInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        estimate = fields.pop("estimate", None)
        made = trials.trial_request(estimate_id=estimate, ip_address=client_ip(request), **fields)
        response = Response(TrialReceiptSerializer(made).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response


@extend_schema_view(list=extend_schema(summary="Trial requests, newest first (the studio's managers)"),
                    retrieve=extend_schema(summary="One trial request"))
class TrialViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = TrialSerializer

    def get_queryset(self) -> Any:
        if self.action == "list" and not permissions.can_answer_trials(self.request.user):
            raise NotPermitted("The studio's managers read and answer trial requests.")
        return selectors.trial_list(self.request.user)  # nobody else's scope holds one: 404

    @extend_schema(request=None, responses=TrialSerializer, summary="Accept: the company, its admin (invited by mail), "
                   "its first style guide and its free first order are created at once")
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: Any = None) -> Response:
        return Response(TrialSerializer(trials.trial_accept(trial=self.get_object(), by=request.user)).data)

    @extend_schema(request=TrialDeclineSerializer, responses=TrialSerializer,
                   summary="Decline with a reason (sent to the contact by mail)")
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: Any = None) -> Response:
        data = TrialDeclineSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(TrialSerializer(trials.trial_decline(trial=self.get_object(), by=request.user,
                                                             **data.validated_data)).data)


def pair_url(request: Request, pair: Any, side: str) -> str:
    return request.build_absolute_uri(reverse("storefront:pair_file", args=[pair.pk, side]))


class PortfolioFilterSerializer(serializers.Serializer):
    service = serializers.ChoiceField(choices=PortfolioService.choices, required=False, default="")
    piece = serializers.ChoiceField(choices=Piece.choices, required=False, default="")


class PublicPortfolioView(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicThrottle]

    @extend_schema(parameters=[OpenApiParameter("service", str, enum=PortfolioService.values),
                               OpenApiParameter("piece", str, enum=Piece.values)],
                   responses={200: OpenApiTypes.OBJECT},
                   summary="The studio's published before/after pairs (web-size copies; only while their clients agree)")
    def get(self, request: Request) -> Response:
        filters = PortfolioFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        pairs = selectors.public_pairs(**filters.validated_data)[:selectors.PUBLIC_PAIRS]
        response = Response({"results": [
            {"id": str(p.pk), "title": p.title, "service": p.service, "piece": p.piece, "width": p.width,
             "height": p.height, "before": pair_url(request, p, "before"), "after": pair_url(request, p, "after")}
            for p in pairs]})
        response["Cache-Control"] = "public, no-cache"
        return response


class OrderConsentView(APIView):
    """Which of an order's approved pictures its company lets the studio show in public."""

    def _answer(self, request: Request, order: Any) -> Response:
        portfolio = selectors.order_portfolio(request.user, order)
        return Response({"order": str(order.pk), "whole_order": portfolio.whole_order is not None, "pictures": [
            {"image": str(image.pk), "filename": image.filename, "allowed": allowed,
             "shown": bool(pair and pair.published and pair.copies_at and allowed)}
            for image, allowed, pair in portfolio.pictures]})

    def _order(self, request: Request, pk: Any) -> Any:
        order = order_get(request.user, pk)
        if not permissions.can_see_portfolio_consent(request.user, order):
            raise NotPermitted("The company's people and the studio's managers read what of an order is shown.")
        return order

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="What of the order may be shown in public, and is")
    def get(self, request: Request, pk: Any) -> Response:
        return self._answer(request, self._order(request, pk))

    @extend_schema(request=ConsentInputSerializer, responses={200: OpenApiTypes.OBJECT},
                   summary="Let the studio show the order's approved pictures (all, or those named) on its public page")
    def post(self, request: Request, pk: Any) -> Response:
        return self._change(request, pk, services.consent_give)

    @extend_schema(request=ConsentInputSerializer, responses={200: OpenApiTypes.OBJECT},
                   summary="Take the consent back (the whole order, or the pictures named): their pairs leave the "
                           "public page at once")
    def delete(self, request: Request, pk: Any) -> Response:
        return self._change(request, pk, services.consent_withdraw)

    def _change(self, request: Request, pk: Any, service: Any) -> Response:
        order = self._order(request, pk)
        data = ConsentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        service(order=order, by=request.user, **data.validated_data)
        return self._answer(request, order)


@extend_schema_view(list=extend_schema(summary="The portfolio's pairs (a company sees its own)"),
                    retrieve=extend_schema(summary="One pair"))
class PortfolioPairViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = PairSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.pair_list(self.request.user)

    @extend_schema(request=PairInputSerializer, responses={201: PairSerializer},
                   summary="Add an approved picture its client agreed to show (web copies are made in the background)")
    def create(self, request: Request) -> Response:
        data = PairInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        pair = services.pair_create(by=request.user, **data.validated_data)
        return Response(PairSerializer(selectors.pair_get(request.user, pair.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PairUpdateSerializer, responses={200: PairSerializer},
                   summary="Describe, order, publish or hide a pair")
    def partial_update(self, request: Request, pk: Any = None) -> Response:
        pair = self.get_object()
        data = PairUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.pair_update(pair=pair, by=request.user, **data.validated_data)
        return Response(PairSerializer(selectors.pair_get(request.user, pair.pk)).data)

    @extend_schema(responses={204: None}, summary="Take a pair out of the portfolio (its copies are deleted)")
    def destroy(self, request: Request, pk: Any = None) -> Response:
        services.pair_remove(pair=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
