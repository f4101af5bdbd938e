"""API for the catalog, orders, their transitions and timelines."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django.http import HttpResponse, HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agency.exceptions import NotPermitted, RuleViolation
from agency.idempotency import shown_once
from agency.models import Role, User
from clients import selectors as clients_selectors
from clients.selectors import client_get
from clients.serializers import StyleGuideOutputSerializer
from clients.tenancy import client_id_of
from jobs import company_export, downloads, permissions, retention, selectors, services, workflow
from jobs.intake import tiles, uploads
from jobs.models import ImageStatus, VersionStatus
from jobs.production import assignment, pilots, planning, qc, versions
from jobs.review import annotations as marks
from jobs.review import deliveries, messages, proofing, references, reviewers, shares
from jobs.serializers import (
    AnnotationEditSerializer,
    AnnotationInputSerializer,
    AnnotationReplySerializer,
    AnnotationSerializer,
    AssignInputSerializer,
    AssignmentSerializer,
    CompanyExportInputSerializer,
    CompanyExportSerializer,
    CompleteInputSerializer,
    DeliverInputSerializer,
    DeliverySerializer,
    EventSerializer,
    ImageInputSerializer,
    ImageSerializer,
    LegalHoldInputSerializer,
    MessageInputSerializer,
    MessageSerializer,
    OrderFilterSerializer,
    OrderInputSerializer,
    OrderListSerializer,
    OrderOutputSerializer,
    OrderUpdateSerializer,
    PartSignInputSerializer,
    PilotChoiceSerializer,
    ProposalSerializer,
    QcInputSerializer,
    ReclassInputSerializer,
    RemovedSerializer,
    ReplyEditSerializer,
    ReplyInputSerializer,
    ReviewInputSerializer,
    ReviewResultSerializer,
    RevisionItemSerializer,
    RevisionRoundSerializer,
    RoundAnswerSerializer,
    ScheduleApplySerializer,
    ServiceSerializer,
    ShareCreatedSerializer,
    ShareInputSerializer,
    ShareLinkSerializer,
    SignedPartSerializer,
    TileSourceSerializer,
    TransitionInputSerializer,
    UploadFileSerializer,
    UploadPartsSerializer,
    UploadsInputSerializer,
    UploadsOutputSerializer,
    VersionDownloadQuerySerializer,
    VersionSerializer,
    VersionWithTargetSerializer,
)

TILE_PATH = r"tiles/(?P<level>[0-9]{1,2})/(?P<col>[0-9]{1,5})_(?P<row>[0-9]{1,5})\.webp"


def _tile_source(pyramid: Any, row: Any, url: str) -> Response:
    return Response(tiles.descriptor(pyramid, file_width=row.width, file_height=row.height, url=url))


def _tile(pyramid: Any, level: str, col: str, row: str) -> HttpResponse:
    """One tile's bytes: a file's tiles never change (a new file is a new version), so the browser keeps
    them for the session; ``private`` keeps them out of shared caches."""
    data = tiles.read_tile(pyramid, level=int(level), col=int(col), row=int(row))
    response = HttpResponse(data, content_type="image/webp")
    response["Cache-Control"] = "private, max-age=86400"
    return response



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
    action_permissions = {"schedule": permissions.can_schedule, "legal_hold": permissions.can_hold_files}

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

    @extend_schema(request=LegalHoldInputSerializer, responses=OrderOutputSerializer,
                   summary="Place or lift the order's legal hold (nothing of it is deleted while it lasts)")
    @action(detail=True, methods=["post"], url_path="legal-hold", url_name="legal-hold")
    def legal_hold(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        data = LegalHoldInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._output(retention.set_legal_hold(order=order, by=request.user, **data.validated_data))

    @extend_schema(request=PilotChoiceSerializer, responses=OrderOutputSerializer,
                   summary="Choose the pilot's pictures (before production; docs/pilots.md)")
    @action(detail=True, methods=["post"])
    def pilot(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        data = PilotChoiceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pilots.pilot_choose(order=order, by=request.user, images=data.validated_data["images"])
        return self._output(order)

    @extend_schema(request=None, responses=OrderOutputSerializer, summary="Resume an order on hold")
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: Any = None) -> Response:
        return self._output(workflow.order_resume(order_id=self.get_object().pk, by=request.user))

    @extend_schema(responses=ImageSerializer(many=True), summary="The order's images")
    @action(detail=True, methods=["get"], serializer_class=ImageSerializer)
    def images(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        page = self.paginate_queryset(selectors.with_versions(selectors.image_list(request.user, order), request.user))
        return self.get_paginated_response(ImageSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(request=None, responses=RemovedSerializer,
                   summary="Remove every refused file of the order (a draft or submitted order)")
    @action(detail=True, methods=["post"], url_path="remove-rejected")
    def remove_rejected(self, request: Request, pk: Any = None) -> Response:
        return Response({"removed": uploads.images_remove_rejected(order=self.get_object(), by=request.user)})

    @extend_schema(request=UploadsInputSerializer, responses={201: UploadsOutputSerializer},
                   summary="Declare files to upload; get an upload target per file")
    @action(detail=True, methods=["post"], serializer_class=UploadsInputSerializer)
    def uploads(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        data = UploadsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = uploads.uploads_create(order=order, by=request.user, files=data.validated_data["files"],
                                         base_url=request.build_absolute_uri("/"))
        shown = {"request": request}
        body = {"images": [{"image": ImageSerializer(image, context=shown).data, "upload": target} for image, target in created]}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses=DeliverySerializer(many=True), summary="The order's deliveries")
    @action(detail=True, methods=["get"], serializer_class=DeliverySerializer)
    def deliveries(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        page = self.paginate_queryset(selectors.delivery_list(request.user, order).prefetch_related("items"))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(request=DeliverInputSerializer, responses={201: DeliverySerializer},
                   summary="Publish the ready images (or the given ones) to the client (staff)")
    @action(detail=True, methods=["post"], serializer_class=DeliverInputSerializer)
    def deliver(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        data = DeliverInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        delivery = deliveries.delivery_publish(order=order, by=request.user, images=data.validated_data.get("images"),
                                               review_by=data.validated_data.get("review_by"))
        delivery = selectors.delivery_queryset(request.user).prefetch_related("items").get(pk=delivery.pk)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ReviewInputSerializer, responses=ReviewResultSerializer,
                   summary="Approve delivered images or request changes with marks (client)")
    @action(detail=True, methods=["post"], serializer_class=ReviewInputSerializer)
    def review(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        data = ReviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        result = proofing.review_submit(order=order, by=request.user, items=[dict(i) for i in body["items"]],
                                      note=body["note"], confirm=body["confirm"])
        round_ = selectors.round_list(request.user, order).filter(pk=result.round.pk).first() if result.round else None
        return Response(ReviewResultSerializer({"approved": result.approved, "completed": result.completed,
                                                "round": round_}).data)

    @extend_schema(responses=RevisionRoundSerializer(many=True), summary="The order's revision rounds with their marks")
    @action(detail=True, methods=["get"], serializer_class=RevisionRoundSerializer)
    def rounds(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        page = self.paginate_queryset(selectors.round_list(request.user, order))
        return self.get_paginated_response(RevisionRoundSerializer(page, many=True).data)

    @extend_schema(methods=["GET"], responses=MessageSerializer(many=True), summary="The order's thread")
    @extend_schema(methods=["POST"], request=MessageInputSerializer, responses={201: MessageSerializer},
                   summary="Write in the thread (internal=true: a studio note clients never see)")
    @action(detail=True, methods=["get", "post"], serializer_class=MessageSerializer)
    def messages(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        if request.method == "POST":
            data = MessageInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            message = messages.message_post(order=order, by=request.user, **data.validated_data)
            return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(selectors.message_list(request.user, order))
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

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
        made = assignment.schedule_apply(order=order, by=request.user, pairs=pairs)
        return Response(AssignmentSerializer(made, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=EventSerializer(many=True), summary="The order's timeline")
    @action(detail=True, methods=["get"], serializer_class=EventSerializer)
    def events(self, request: Request, pk: Any = None) -> Response:
        order = self.get_object()
        page = self.paginate_queryset(selectors.event_list(request.user, order))
        return self.get_paginated_response(EventSerializer(page, many=True).data)


class DownloadQuerySerializer(serializers.Serializer):
    what = serializers.ChoiceField(choices=list(downloads.IMAGE_DOWNLOADS), default="original")


def _upload_parts(request: Request, *, listed: Callable[[], dict[str, Any]],
                  sign: Callable[..., dict[str, Any]]) -> Response:
    """``parts/`` of an image or a version: GET lists what storage holds, POST signs one part."""
    if request.method == "GET":
        return Response(UploadPartsSerializer(listed()).data)
    data = PartSignInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    signed = sign(**data.validated_data, base_url=request.build_absolute_uri("/"))
    return Response(SignedPartSerializer(signed).data, status=status.HTTP_201_CREATED)


class ImageFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ImageStatus.choices, required=False)
    queue = serializers.BooleanField(required=False, default=False,
                                     help_text="A retoucher's own open work, earliest due first.")


class PictureFileActions:
    """What every received file has, originals and versions alike: its deep-zoom tiles and its marks.
    ``file_kind`` says which the viewset serves."""

    file_kind = "image"

    def _picture(self) -> tuple[Any, Any]:
        row = self.get_object()  # type: ignore[attr-defined]
        return (row, None) if self.file_kind == "image" else (row.image, row)

    def _tiled(self) -> Any:
        """The file a tile route is about, read lean: scoped like every read (another company's: 404) and
        checked like ``get_object``, without the detail view's joins and prefetches (a screenful of the
        canvas asks for tens of tiles)."""
        view: Any = self
        pk = view.kwargs["pk"]
        row = selectors.image_get(view.request.user, pk) if self.file_kind == "image" \
            else selectors.version_file_get(view.request.user, pk)
        view.check_object_permissions(view.request, row)
        return row

    @extend_schema(request=None, responses=TileSourceSerializer,
                   summary="The file's deep-zoom tile source (409 until its tiles are made; a held order's client: "
                           "the watermarked one)")
    @action(detail=True, methods=["get"], url_path="tiles", url_name="tiles")
    def tiles(self, request: Request, pk: Any = None) -> Response:
        row = self._tiled()
        return _tile_source(tiles.pyramid_for(**{self.file_kind: row}, by=request.user), row,
                            f"/api/v1/{self.file_kind}s/{row.pk}/tiles/")

    @extend_schema(request=None, responses={(200, "image/webp"): OpenApiTypes.BINARY},
                   summary="One tile of the file's deep-zoom pyramid (WebP)")
    @action(detail=True, methods=["get"], url_path=TILE_PATH, url_name="tile")
    def tile(self, request: Request, pk: Any = None, level: str = "0", col: str = "0", row: str = "0") -> HttpResponse:
        pyramid = tiles.pyramid_for(**{self.file_kind: self._tiled()}, by=request.user)
        return _tile(pyramid, level, col, row)

    @extend_schema(methods=["GET"], request=None, responses=AnnotationSerializer(many=True),
                   summary="The marks on this file, with their threads (W3C Web Annotations in its pixels)")
    @extend_schema(methods=["POST"], request=AnnotationInputSerializer, responses={201: AnnotationSerializer},
                   summary="Draw a mark on this file (400 off the picture or malformed; 409 on a finished order)")
    @action(detail=True, methods=["get", "post"], url_path="annotations", url_name="annotations")
    def annotations(self, request: Request, pk: Any = None) -> Response:
        image, version = self._picture()
        if request.method == "GET":
            return Response(AnnotationSerializer(selectors.marks_of(request.user, image, version), many=True).data)
        data = AnnotationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        mark = marks.annotation_create(image=image, version=version, by=request.user, target=given["target"],
                                       text=given["text"], mentions=given["mentions"],
                                       for_client=None if given["audience"] is None else given["audience"] == "client")
        return Response(AnnotationSerializer(selectors.annotation_get(request.user, mark.pk)).data,
                        status=status.HTTP_201_CREATED)


@extend_schema_view(list=extend_schema(summary="Images the user may see (retouchers: their assigned work)",
                                       parameters=[ImageFilterSerializer]),
                    retrieve=extend_schema(summary="One image with its metadata and pre-flight findings"),
                    destroy=extend_schema(summary="Remove an image from a draft or submitted order"))
class ImageViewSet(PictureFileActions, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                   viewsets.GenericViewSet):
    serializer_class = ImageSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        user = self.request.user
        if self.action != "list":
            return selectors.with_versions(selectors.image_queryset(user), user)
        filters = ImageFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        if filters.validated_data["queue"]:
            return selectors.with_versions(selectors.work_queue(user), user)
        return selectors.with_versions(selectors.image_list(user, status=filters.validated_data.get("status")), user)

    @extend_schema(request=ImageInputSerializer, responses=ImageSerializer,
                   summary="Change an image's SKU or instructions (client, studio) or complexity (studio) before "
                           "production")
    def partial_update(self, request: Request, pk: Any = None) -> Response:
        data = ImageInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        uploads.image_update(image=self.get_object(), by=request.user, **data.validated_data)
        return Response(ImageSerializer(self.get_object(), context={"request": request}).data)

    @extend_schema(request=None, responses=ImageSerializer, summary="Start (or restart) work on an assigned image")
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: Any = None) -> Response:
        versions.image_start(image=self.get_object(), by=request.user)
        return Response(ImageSerializer(self.get_object(), context={"request": request}).data)

    @extend_schema(methods=["GET"], responses=VersionSerializer(many=True), summary="The image's versions")
    @extend_schema(methods=["POST"], request=UploadFileSerializer, responses={201: VersionWithTargetSerializer},
                   summary="Declare a retouched version; get its upload target (the assigned retoucher)")
    @action(detail=True, methods=["get", "post"], serializer_class=VersionSerializer)
    def versions(self, request: Request, pk: Any = None) -> Response:
        image = self.get_object()
        if request.method == "POST":
            data = UploadFileSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            version, target = versions.version_create(image=image, by=request.user, file=data.validated_data,
                                                        base_url=request.build_absolute_uri("/"))
            version = selectors.version_get(request.user, version.pk)
            return Response({"version": VersionSerializer(version).data, "upload": target},
                            status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(selectors.versions_of(request.user, image))
        return self.get_paginated_response(VersionSerializer(page, many=True).data)

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
        return Response(ImageSerializer(image, context={"request": request}).data, status=code)

    @extend_schema(methods=["GET"], request=None, responses=UploadPartsSerializer,
                   summary="The parts storage holds for the image's multipart upload (to resume it)")
    @extend_schema(methods=["POST"], request=PartSignInputSerializer, responses={201: SignedPartSerializer},
                   summary="A URL for one part of the image's multipart upload, signed with the part's SHA-256")
    @action(detail=True, methods=["get", "post"], serializer_class=PartSignInputSerializer)
    def parts(self, request: Request, pk: Any = None) -> Response:
        image = self.get_object()
        return _upload_parts(request, listed=partial(uploads.upload_parts, image=image, by=request.user),
                             sign=partial(uploads.upload_sign_part, image=image, by=request.user))

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
        made = assignment.image_assign(image=image, retoucher=retoucher, by=request.user,
                                       reassign=data.validated_data["reassign"])
        return Response(AssignmentSerializer(made).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[DownloadQuerySerializer], responses={302: None},
                   summary="Redirect to a short-lived link to the original, its previews, the latest visible "
                           "version or the latest ready delivery holding the image")
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: Any = None) -> HttpResponseRedirect:
        image = self.get_object()
        query = DownloadQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        url = downloads.image_download_url(image=image, by=request.user, what=query.validated_data["what"])
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "no-store"
        return response


class RequiredReviewersInputSerializer(serializers.Serializer):
    users = serializers.ListField(child=serializers.UUIDField(), required=False, default=list, max_length=20,
                                  help_text="People of the company whose approval the delivery waits for.")
    shares = serializers.ListField(child=serializers.UUIDField(), required=False, default=list, max_length=20,
                                   help_text="Review links (guests who may decide) whose approval it waits for.")


def reviewers_answer(user: Any, delivery: Any) -> dict[str, Any]:
    """A delivery's required reviewers and, per picture, each reviewer's decision on what it last delivered."""
    required = [{"type": "guest" if r.share_id else "person", "id": str(r.share_id or r.user_id), "name": r.name}
                for r in delivery.required_reviewers.select_related("user", "share")]
    items = list(delivery.items.select_related("image").order_by("image__position"))
    tallies = reviewers.tallies(user, [item.image_id for item in items])
    return {"delivery": str(delivery.pk), "required": required, "pictures": [
        {"image": str(item.image_id), "filename": item.image.filename, "status": item.image.status,
         "reviews": tallies[item.image_id].as_data()} for item in items]}


@extend_schema_view(retrieve=extend_schema(summary="One delivery"))
class DeliveryViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = DeliverySerializer

    def get_queryset(self) -> Any:
        return selectors.delivery_queryset(self.request.user)

    @extend_schema(request=None, responses=DeliverySerializer, summary="Prepare a failed delivery again (staff)")
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: Any = None) -> Response:
        delivery = deliveries.delivery_retry(delivery=self.get_object(), by=request.user)
        return Response(DeliverySerializer(self.get_queryset().prefetch_related("items").get(pk=delivery.pk)).data)

    @extend_schema(responses={302: None}, summary="Redirect to a short-lived link to the delivery ZIP")
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: Any = None) -> HttpResponseRedirect:
        response = HttpResponseRedirect(deliveries.delivery_download_url(delivery=self.get_object(), by=request.user))
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(methods=["GET"], request=None, responses={200: OpenApiTypes.OBJECT},
                   summary="The delivery's required reviewers and each reviewer's decision per picture")
    @extend_schema(methods=["PUT"], request=RequiredReviewersInputSerializer, responses={200: OpenApiTypes.OBJECT},
                   summary="Name the people (and guests who may decide) whose approval the delivery waits for; "
                           "an empty list names nobody")
    @action(detail=True, methods=["get", "put"])
    def reviewers(self, request: Request, pk: Any = None) -> Response:
        delivery = self.get_object()
        if not permissions.can_review_delivery(request.user, delivery.order):
            raise NotPermitted("The company's people and the studio's managers read a delivery's reviews.")
        if request.method == "PUT":
            data = RequiredReviewersInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            proofing.required_reviewers_set(delivery=delivery, by=request.user, **data.validated_data)
        return Response(reviewers_answer(request.user, delivery))

    @extend_schema(methods=["POST"], request=ShareInputSerializer, responses={201: ShareCreatedSerializer},
                   summary="Send a personal review link for this delivery to someone without an account (the "
                           "answer holds the link, shown once)")
    @extend_schema(methods=["DELETE"], request=None, responses={204: None},
                   summary="Revoke every live review link to this delivery")
    @action(detail=True, methods=["post", "delete"])
    def shares(self, request: Request, pk: Any = None) -> Response:
        delivery = self.get_object()
        if request.method == "DELETE":
            shares.share_revoke_all(delivery=delivery, by=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        data = ShareInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        link, token = shares.share_create(delivery=delivery, by=request.user, **data.validated_data)
        body = ShareCreatedSerializer(selectors.share_get(request.user, link.pk),
                                      context={"url": shares.absolute_link(token)}).data
        return shown_once(Response(body, status=status.HTTP_201_CREATED))


class ShareFilterSerializer(serializers.Serializer):
    delivery = serializers.UUIDField(required=False)
    order = serializers.UUIDField(required=False)


@extend_schema_view(list=extend_schema(parameters=[ShareFilterSerializer],
                                       summary="Review links (no secrets) with their activity: client admins see "
                                               "their company's"),
                    retrieve=extend_schema(summary="One review link and its activity"),
                    destroy=extend_schema(summary="Revoke a review link (revoking twice changes nothing)"))
class ShareViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                   viewsets.GenericViewSet):
    serializer_class = ShareLinkSerializer
    action_permissions = {"default": permissions.can_open_shares}

    def get_queryset(self) -> Any:
        qs = selectors.share_queryset(self.request.user)
        if self.action == "list":
            filters = ShareFilterSerializer(data=self.request.query_params)
            filters.is_valid(raise_exception=True)
            if filters.validated_data.get("delivery"):
                qs = qs.filter(delivery_id=filters.validated_data["delivery"])
            if filters.validated_data.get("order"):
                qs = qs.filter(delivery__order_id=filters.validated_data["order"])
        return qs

    def destroy(self, request: Request, pk: Any = None) -> Response:
        shares.share_revoke(link=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CompanyExportFilterSerializer(serializers.Serializer):
    client = serializers.UUIDField(required=False)


@extend_schema_view(list=extend_schema(parameters=[CompanyExportFilterSerializer],
                                       summary="The company archives asked for (client admins: their company's)"),
                    retrieve=extend_schema(summary="One company archive: building, ready or failed, and what it holds"),
                    create=extend_schema(request=CompanyExportInputSerializer, responses={201: CompanyExportSerializer},
                                         summary="Ask for an archive of everything of a company (409 while one is "
                                                 "being made)"))
class CompanyExportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                           viewsets.GenericViewSet):
    serializer_class = CompanyExportSerializer
    action_permissions = {"default": permissions.can_export_company_data}

    def get_queryset(self) -> Any:
        qs = selectors.company_export_queryset(self.request.user)
        if self.action == "list":
            filters = CompanyExportFilterSerializer(data=self.request.query_params)
            filters.is_valid(raise_exception=True)
            if filters.validated_data.get("client"):
                qs = qs.filter(client_id=filters.validated_data["client"])
        return qs

    def create(self, request: Request) -> Response:
        data = CompanyExportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = data.validated_data.get("client") or client_id_of(request.user)
        client = clients_selectors.client_list(request.user).filter(pk=wanted).first() if wanted else None
        if client is None:
            raise RuleViolation("Name the company to export.", field="client")
        export = company_export.export_request(client=client, by=request.user)
        return Response(CompanyExportSerializer(self.get_queryset().get(pk=export.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses={302: None}, summary="Redirect to a short-lived link to the archive")
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: Any = None) -> HttpResponseRedirect:
        url = company_export.export_download_url(export=self.get_object(), by=request.user)
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "no-store"
        return response


class VersionFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=VersionStatus.choices, required=False,
                                     help_text="in_qc: the QC queue, the order due first")


@extend_schema_view(list=extend_schema(summary="Versions the user may see", parameters=[VersionFilterSerializer]),
                    retrieve=extend_schema(summary="One version: status, automated checks, QC decision"))
class VersionViewSet(PictureFileActions, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = VersionSerializer
    file_kind = "version"
    action_permissions = {"qc": permissions.can_review_qc}

    def get_queryset(self) -> Any:
        if self.action != "list":
            return selectors.version_queryset(self.request.user)
        filters = VersionFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        if filters.validated_data.get("status") == VersionStatus.IN_QC:
            return selectors.qc_queue(self.request.user)
        qs = selectors.version_queryset(self.request.user).order_by("-created_at")
        return qs.filter(status=filters.validated_data["status"]) if "status" in filters.validated_data else qs

    @extend_schema(request=CompleteInputSerializer, responses={202: VersionSerializer},
                   summary="Finish a version's upload (with its parts for a multipart upload)")
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: Any = None) -> Response:
        data = CompleteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = versions.version_complete(version=self.get_object(), by=request.user,
                                              parts=data.validated_data.get("parts"))
        version = selectors.version_get(request.user, version.pk)
        code = status.HTTP_202_ACCEPTED if version.status == VersionStatus.UPLOADING else status.HTTP_200_OK
        return Response(VersionSerializer(version).data, status=code)

    @extend_schema(methods=["GET"], request=None, responses=UploadPartsSerializer,
                   summary="The parts storage holds for the version's multipart upload (to resume it)")
    @extend_schema(methods=["POST"], request=PartSignInputSerializer, responses={201: SignedPartSerializer},
                   summary="A URL for one part of the version's multipart upload, signed with the part's SHA-256")
    @action(detail=True, methods=["get", "post"], serializer_class=PartSignInputSerializer)
    def parts(self, request: Request, pk: Any = None) -> Response:
        version = self.get_object()
        return _upload_parts(request, listed=partial(versions.version_parts, version=version, by=request.user),
                             sign=partial(versions.version_sign_part, version=version, by=request.user))

    @extend_schema(request=QcInputSerializer, responses=VersionSerializer,
                   summary="Pass the version, or send it back with a category and notes (QC)")
    @action(detail=True, methods=["post"], serializer_class=QcInputSerializer)
    def qc(self, request: Request, pk: Any = None) -> Response:
        data = QcInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        version = qc.qc_decide(version=self.get_object(), by=request.user, decision=body["decision"],
                                       category=body["category"], note=body["notes"])
        return Response(VersionSerializer(selectors.version_get(request.user, version.pk)).data)

    @extend_schema(request=None, responses={200: StyleGuideOutputSerializer},
                   summary="Make this approved version the golden reference of its order's style guide")
    @action(detail=True, methods=["post"])
    def reference(self, request: Request, pk: Any = None) -> Response:
        guide = references.version_make_reference(version=self.get_object(), by=request.user)
        return Response(StyleGuideOutputSerializer(guide).data)

    @extend_schema(parameters=[VersionDownloadQuerySerializer], responses={302: None},
                   summary="Redirect to a short-lived link to the version's file or previews")
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: Any = None) -> HttpResponseRedirect:
        query = VersionDownloadQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        url = downloads.version_download_url(version=self.get_object(), by=request.user,
                                              what=query.validated_data["what"])
        response = HttpResponseRedirect(url)
        response["Cache-Control"] = "no-store"
        return response


@extend_schema_view(retrieve=extend_schema(summary="One revision round with its items and marks"))
class RevisionRoundViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = RevisionRoundSerializer

    def get_queryset(self) -> Any:
        return selectors.round_queryset(self.request.user)

    @extend_schema(request=RoundAnswerSerializer, responses=RevisionRoundSerializer,
                   summary="Confirm (or decline) a billable round (client admin)")
    @action(detail=True, methods=["post"], serializer_class=RoundAnswerSerializer)
    def confirm(self, request: Request, pk: Any = None) -> Response:
        data = RoundAnswerSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        round_ = proofing.round_answer(round_=self.get_object(), by=request.user, confirm=data.validated_data["confirm"])
        return Response(RevisionRoundSerializer(self.get_queryset().get(pk=round_.pk)).data)


class RevisionItemViewSet(viewsets.GenericViewSet):
    serializer_class = RevisionItemSerializer
    action_permissions = {"classify": permissions.can_classify_revisions}

    def get_queryset(self) -> Any:
        return selectors.revision_item_queryset(self.request.user)

    @extend_schema(request=ReclassInputSerializer, responses=RevisionItemSerializer,
                   summary="Class a revision item as defect or change, with a reason (account manager)")
    @action(detail=True, methods=["post"], serializer_class=ReclassInputSerializer)
    def classify(self, request: Request, pk: Any = None) -> Response:
        data = ReclassInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = proofing.item_reclassify(item=self.get_object(), by=request.user, **data.validated_data)
        return Response(RevisionItemSerializer(self.get_queryset().get(pk=item.pk)).data)


@extend_schema_view(retrieve=extend_schema(summary="One mark with its thread"),
                    partial_update=extend_schema(request=AnnotationEditSerializer,
                                                 summary="Rewrite or move your mark (within 15 minutes, until a review "
                                                         "sends it)"),
                    destroy=extend_schema(summary="Take your mark back (within 15 minutes, until a review sends it)"))
class AnnotationViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = AnnotationSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.annotation_queryset(self.request.user)

    def _answer(self, mark: Any, code: int = status.HTTP_200_OK) -> Response:
        return Response(AnnotationSerializer(selectors.annotation_get(self.request.user, mark.pk)).data, status=code)

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        data = AnnotationEditSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["text"] is None and data.validated_data["target"] is None:
            raise RuleViolation("Send the new text or target.", field="text")
        return self._answer(marks.annotation_edit(mark=self.get_object(), by=request.user, **data.validated_data))

    def destroy(self, request: Request, pk: Any = None) -> Response:
        marks.annotation_delete(mark=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ReplyInputSerializer, responses={201: AnnotationReplySerializer},
                   summary="Reply in the mark's thread (@mentions are told once)")
    @action(detail=True, methods=["post"])
    def replies(self, request: Request, pk: Any = None) -> Response:
        data = ReplyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reply = marks.reply_post(mark=self.get_object(), by=request.user, **data.validated_data)
        return Response(AnnotationReplySerializer(selectors.reply_get(request.user, reply.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=AnnotationSerializer, summary="Resolve the mark (409 if it is resolved)")
    @action(detail=True, methods=["post"])
    def resolve(self, request: Request, pk: Any = None) -> Response:
        return self._answer(marks.annotation_resolve(mark=self.get_object(), by=request.user))

    @extend_schema(request=None, responses=AnnotationSerializer, summary="Reopen a resolved mark (409 if it is open)")
    @action(detail=True, methods=["post"])
    def reopen(self, request: Request, pk: Any = None) -> Response:
        return self._answer(marks.annotation_reopen(mark=self.get_object(), by=request.user))


@extend_schema_view(partial_update=extend_schema(request=ReplyEditSerializer, responses=AnnotationReplySerializer,
                                                 summary="Rewrite your reply (within 15 minutes)"),
                    destroy=extend_schema(summary="Take your reply back (within 15 minutes)"))
class AnnotationReplyViewSet(viewsets.GenericViewSet):
    serializer_class = AnnotationReplySerializer
    http_method_names = ["patch", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.reply_queryset(self.request.user)

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        data = ReplyEditSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reply = marks.reply_edit(reply=self.get_object(), by=request.user, text=data.validated_data["text"])
        return Response(AnnotationReplySerializer(selectors.reply_get(request.user, reply.pk)).data)

    def destroy(self, request: Request, pk: Any = None) -> Response:
        marks.reply_delete(reply=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
