"""API for the catalog, orders, their transitions and timelines."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseRedirect
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agency.exceptions import RuleViolation
from agency.models import Role, User
from clients.selectors import client_get
from clients.tenancy import client_id_of
from jobs import deliveries, permissions, planning, selectors, services, uploads, workflow
from jobs.serializers import (
    AssignInputSerializer,
    AssignmentSerializer,
    CompleteInputSerializer,
    DeliverySerializer,
    EventSerializer,
    ImageSerializer,
    OrderFilterSerializer,
    OrderInputSerializer,
    OrderListSerializer,
    OrderOutputSerializer,
    OrderUpdateSerializer,
    ProposalSerializer,
    ScheduleApplySerializer,
    ServiceSerializer,
    TransitionInputSerializer,
    UploadsInputSerializer,
    UploadsOutputSerializer,
)


@extend_schema_view(list=extend_schema(summary="The service catalog"),
                    retrieve=extend_schema(summary="One service"))
class ServiceViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ServiceSerializer

    def get_queryset(self) -> Any:
        return selectors.service_list()


@extend_schema_view(
    list=extend_schema(summary="Orders the user may see", parameters=[OrderFilterSerializer],
                       responses=OrderListSerializer(many=True)),
    retrieve=extend_schema(summary="One order"),
    create=extend_schema(request=OrderInputSerializer, responses={201: OrderOutputSerializer},
                         summary="Create a draft order"),
    partial_update=extend_schema(request=OrderUpdateSerializer, responses=OrderOutputSerializer,
                                 summary="Edit a draft order"),
)
class OrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = OrderOutputSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_permissions = {"schedule": permissions.can_schedule}

    def get_queryset(self) -> Any:
        if self.action != "list":
            return selectors.order_list(self.request.user).prefetch_related("services")
        filters = OrderFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.order_list(self.request.user, **filters.validated_data)

    def get_serializer_class(self) -> Any:
        return OrderListSerializer if self.action == "list" else OrderOutputSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        from agency.calendar import studio_calendar

        # One calendar per request, shared by every order's SLA figures (no query per row).
        return {**super().get_serializer_context(), "calendar": studio_calendar()}

    def _output(self, order: Any, code: int = status.HTTP_200_OK) -> Response:
        order = selectors.order_get(self.request.user, order.pk)
        return Response(OrderOutputSerializer(order, context=self.get_serializer_context()).data, status=code)

    def create(self, request: Request) -> Response:
        data = OrderInputSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        client = fields.pop("client", None)
        if client is None:
            own = client_id_of(request.user)
            if own is None:
                raise RuleViolation("Choose the client this order is for.", field="client")
            client = client_get(request.user, own)
        order = services.order_create(client=client, created_by=request.user, **fields)
        return self._output(order, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        data = OrderUpdateSerializer(order, data=request.data, partial=True, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        order = services.order_update(order=order, by=request.user, **data.validated_data)
        return self._output(order)

    @extend_schema(request=None, responses=OrderOutputSerializer, summary="Submit a draft to the studio")
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: Any = None) -> Response:
        return self._output(workflow.order_submit(order_id=self.get_object().pk, by=request.user))

    @extend_schema(request=TransitionInputSerializer, responses=OrderOutputSerializer, summary="Cancel an order")
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        data = TransitionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._output(workflow.order_cancel(order_id=order.pk, by=request.user, **data.validated_data))

    @extend_schema(request=TransitionInputSerializer, responses=OrderOutputSerializer, summary="Put an order on hold")
    @action(detail=True, methods=["post"])
    def hold(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        data = TransitionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._output(workflow.order_hold(order_id=order.pk, by=request.user, **data.validated_data))

    @extend_schema(request=None, responses=OrderOutputSerializer, summary="Resume an order on hold")
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: Any = None) -> Response:
        return self._output(workflow.order_resume(order_id=self.get_object().pk, by=request.user))

    @extend_schema(responses=ImageSerializer(many=True), summary="The order's images")
    @action(detail=True, methods=["get"], serializer_class=ImageSerializer)
    def images(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        page = self.paginate_queryset(selectors.image_list(request.user, order))
        return self.get_paginated_response(ImageSerializer(page, many=True).data)

    @extend_schema(request=UploadsInputSerializer, responses={201: UploadsOutputSerializer},
                   summary="Declare files to upload; get an upload target per file")
    @action(detail=True, methods=["post"], serializer_class=UploadsInputSerializer)
    def uploads(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        data = UploadsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = uploads.uploads_create(order=order, by=request.user, files=data.validated_data["files"],
                                         base_url=request.build_absolute_uri("/"))
        body = {"images": [{"image": ImageSerializer(image).data, "upload": target} for image, target in created]}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], responses=DeliverySerializer(many=True), summary="The order's deliveries")
    @extend_schema(methods=["POST"], request=None, responses={201: DeliverySerializer},
                   summary="Build a delivery ZIP of the approved versions (staff)")
    @action(detail=True, methods=["get", "post"], serializer_class=DeliverySerializer)
    def deliveries(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        if request.method == "POST":
            delivery = deliveries.delivery_create(order=order, by=request.user)
            delivery.refresh_from_db()
            return Response(DeliverySerializer(delivery).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(selectors.delivery_list(request.user, order))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(methods=["GET"], responses=ProposalSerializer,
                   summary="Proposed assignments for the order's unassigned images (staff)")
    @extend_schema(methods=["POST"], request=ScheduleApplySerializer, responses=AssignmentSerializer(many=True),
                   summary="Apply the proposal, or the given image → retoucher pairs (staff)")
    @action(detail=True, methods=["get", "post"], serializer_class=ProposalSerializer)
    def schedule(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        if request.method == "GET":
            return Response(planning.proposal_rows(order))
        data = ScheduleApplySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pairs = None
        if "assignments" in data.validated_data:
            images = {i.pk: i for i in selectors.image_list(request.user, order)}
            users = {u.pk: u for u in User.objects.filter(role=Role.RETOUCHER)}
            try:
                pairs = [(images[p["image"]], users[p["retoucher"]]) for p in data.validated_data["assignments"]]
            except KeyError as exc:
                raise RuleViolation(f"{exc.args[0]} is not an image of this order or not a retoucher.",
                                    field="assignments") from exc
        made = planning.schedule_apply(order=order, by=request.user, pairs=pairs)
        return Response(AssignmentSerializer(made, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=EventSerializer(many=True), summary="The order's timeline")
    @action(detail=True, methods=["get"], serializer_class=EventSerializer)
    def events(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        page = self.paginate_queryset(selectors.event_list(request.user, order))
        return self.get_paginated_response(EventSerializer(page, many=True).data)


class DownloadQuerySerializer(serializers.Serializer):
    what = serializers.ChoiceField(choices=list(uploads.DOWNLOADS), default="original")


@extend_schema_view(retrieve=extend_schema(summary="One image with its metadata and pre-flight findings"),
                    destroy=extend_schema(summary="Remove an image from a draft or submitted order"))
class ImageViewSet(mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = ImageSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.image_queryset(self.request.user)

    def perform_destroy(self, instance: Any) -> None:
        uploads.image_remove(image=instance, by=self.request.user)

    @extend_schema(request=CompleteInputSerializer, responses={202: ImageSerializer},
                   summary="Finish an upload (with its parts for a multipart upload)")
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: Any = None) -> Response:
        image = self.get_object()
        data = CompleteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        image = uploads.upload_complete(image=image, by=request.user, parts=data.validated_data.get("parts"))
        image.refresh_from_db()
        code = status.HTTP_202_ACCEPTED if image.status == "uploading" else status.HTTP_200_OK
        return Response(ImageSerializer(image).data, status=code)

    @extend_schema(request=AssignInputSerializer, responses={201: AssignmentSerializer},
                   summary="Assign (or with reassign=true, reassign) the image to a retoucher")
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: Any = None) -> Response:
        image = self.get_object()
        data = AssignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        retoucher = User.objects.filter(pk=data.validated_data["retoucher"]).first()
        if retoucher is None:
            raise RuleViolation("No such retoucher.", field="retoucher")
        assignment = planning.image_assign(image=image, retoucher=retoucher, by=request.user,
                                           reassign=data.validated_data["reassign"])
        return Response(AssignmentSerializer(assignment).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[DownloadQuerySerializer], responses={302: None},
                   summary="Redirect to a short-lived link to the original, preview or thumbnail")
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: Any = None) -> HttpResponseRedirect:
        image = self.get_object()
        query = DownloadQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        url = uploads.image_download_url(image=image, by=request.user, what=query.validated_data["what"])
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "no-store"
        return response


@extend_schema_view(retrieve=extend_schema(summary="One delivery"))
class DeliveryViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = DeliverySerializer

    def get_queryset(self) -> Any:
        return selectors.delivery_queryset(self.request.user)

    @extend_schema(responses={302: None}, summary="Redirect to a short-lived link to the delivery ZIP")
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: Any = None) -> HttpResponseRedirect:
        response = HttpResponseRedirect(deliveries.delivery_download_url(delivery=self.get_object()))
        response["Cache-Control"] = "no-store"
        return response
