"""API building blocks shared by every app, plus the studio-wide endpoints: token and ``me``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_login_failed
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view, inline_serializer
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.exceptions import NotAuthenticated
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agency import two_factor, uploads
from agency.auth import COMPANY_SUSPENDED, ExpiringTokenAuthentication, suspended_company_user
from agency.exceptions import NotPermitted, RuleViolation
from agency.idempotency import shown_once
from agency.models import ApiToken, Notification
from agency.notifications import mark_read, unread_count
from agency.permissions import can_edit_brand, is_client_user
from agency.selectors import token_list
from agency.services import token_create, token_issue, token_revoke
from agency.timefmt import LocalTimesField


@extend_schema_field(OpenApiTypes.UUID)  # every id is a UUID; plain serializers have no model to tell
class ScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A writable relation whose choices are what the requesting user may see.

    ``selector(user)`` must return a scoped queryset, so an id of another tenant's row is refused as
    "does not exist" exactly like an id that never existed (SECURITY.md §1.6).
    """

    def __init__(self, selector: Callable[[Any], Any], **kwargs: Any) -> None:
        self.selector = selector
        super().__init__(**kwargs)

    def get_queryset(self) -> Any:
        return self.selector(self.context["request"].user)


class MeSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    full_name = serializers.CharField()
    role = serializers.CharField()
    time_zone = serializers.CharField()
    client = serializers.SerializerMethodField()
    two_factor = serializers.SerializerMethodField(help_text="Whether two-factor sign-in is on for this person.")
    upload_limits = serializers.SerializerMethodField(
        help_text="What an upload may be, before it starts: the largest file (a larger declared size is refused "
                  "at declaration), the largest sent in one PUT, and the part size above it (docs/uploads.md).")

    def get_two_factor(self, user: Any) -> bool:
        return two_factor.is_enabled(user)

    @extend_schema_field(inline_serializer("UploadLimits", {
        "max_file_bytes": serializers.IntegerField(), "single_put_max_bytes": serializers.IntegerField(),
        "part_size_bytes": serializers.IntegerField()}))
    def get_upload_limits(self, user: Any) -> dict[str, int]:
        return {"max_file_bytes": uploads.max_upload_bytes(), "single_put_max_bytes": uploads.MULTIPART_THRESHOLD,
                "part_size_bytes": uploads.PART_SIZE}

    @extend_schema_field(inline_serializer("MeClient", {"id": serializers.UUIDField(), "name": serializers.CharField()},
                                           allow_null=True))
    def get_client(self, user: Any) -> dict[str, Any] | None:
        membership = getattr(user, "membership", None) if is_client_user(user) else None
        if membership is None:
            return None
        return {"id": str(membership.client_id), "name": membership.client.name}


class MeView(APIView):
    @extend_schema(responses=MeSerializer, summary="The logged-in user, their role and company")
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)


class TokenInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)
    code = serializers.CharField(max_length=20, required=False, allow_blank=True,
                                 help_text="The current code of the authenticator app (or a recovery code), "
                                           "for people who turned two-factor sign-in on.")


TokenOutput = inline_serializer("TokenOutput", {
    "token": serializers.CharField(), "expires_at": serializers.DateTimeField(),
})


class TokenView(APIView):
    """Exchange e-mail and password for an API token (shown once). Failed attempts count towards the
    login lockout; an unknown address and a wrong password get the same answer."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(request=TokenInputSerializer, responses={201: TokenOutput}, summary="Obtain an API token")
    def post(self, request: Request) -> Response:
        data = TokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request._request, email=data.validated_data["email"].lower(),
                            password=data.validated_data["password"])
        if user is None and suspended_company_user(data.validated_data["email"], data.validated_data["password"]):
            raise NotPermitted(COMPANY_SUSPENDED)
        if user is None:
            # 400 like DRF's own token view: 401 would ask for credentials this endpoint does not take.
            raise RuleViolation("E-mail address or password is wrong.")
        if two_factor.is_enabled(user):
            if two_factor.verify(user, data.validated_data.get("code", "")) is None:
                user_login_failed.send(sender=__name__, request=request._request,
                                       credentials={"username": user.email, "loupe_reason": "wrong second-factor code"})
                raise RuleViolation("Two-factor sign-in is on: send the current code of your authenticator app "
                                    "(or a recovery code) in “code”. " + ("The code sent is wrong, expired or "
                                    "already used." if data.validated_data.get("code") else ""), field="code")
        elif two_factor.required_for(user):
            raise NotPermitted("Your role needs two-factor sign-in: set it up in Loupe (Profile, Two-factor "
                               "sign-in) before asking for a token.")
        token, key = token_issue(user=user)
        return shown_once(Response({"token": key, "expires_at": token.expires_at}, status=status.HTTP_201_CREATED))

    @extend_schema(request=None, responses={204: None}, summary="Revoke the token used for this request")
    def delete(self, request: Request) -> Response:
        result = ExpiringTokenAuthentication().authenticate(request)
        if result is None:
            raise NotAuthenticated("Send the token to revoke in the Authorization header.")
        token_revoke(token=result[1], by=result[0])
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationSerializer(serializers.ModelSerializer):
    title = LocalTimesField()
    body = LocalTimesField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "title", "body", "url", "created_at", "read_at"]
        read_only_fields = fields


class NotificationFilterSerializer(serializers.Serializer):
    unread = serializers.BooleanField(required=False, default=False)


class NotificationReadSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=500,
                                help_text="The notifications to mark read; all of them when left out.")


class NotificationListView(ListAPIView):
    """The bell: the user's own notifications, newest first (``unread=true`` for the unread ones)."""

    serializer_class = NotificationSerializer

    @extend_schema(parameters=[NotificationFilterSerializer], summary="Your notifications")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        filters = NotificationFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        qs = Notification.objects.filter(user=self.request.user)
        return qs.filter(read_at__isnull=True) if filters.validated_data["unread"] else qs


class NotificationReadView(APIView):
    @extend_schema(request=NotificationReadSerializer, responses=inline_serializer("NotificationsRead", {
        "marked": serializers.IntegerField(), "unread": serializers.IntegerField()}),
        summary="Mark notifications read")
    def post(self, request: Request) -> Response:
        data = NotificationReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = data.validated_data.get("ids")
        marked = mark_read(request.user, [str(i) for i in ids] if ids is not None else None)
        return Response({"marked": marked, "unread": unread_count(request.user)})


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at"]
        read_only_fields = fields


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    key = serializers.CharField(help_text="The secret, shown this once: store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]
        read_only_fields = fields


class ApiTokenInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


@extend_schema_view(
    list=extend_schema(summary="Your personal API tokens (live ones; secrets are never shown again)"),
    create=extend_schema(request=ApiTokenInputSerializer, responses={201: ApiTokenCreatedSerializer},
                         summary="Create a named token; the secret is in this answer only"),
    destroy=extend_schema(summary="Revoke one of your tokens"),
)
class ApiTokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = ApiTokenSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return token_list(self.request.user)

    def create(self, request: Request) -> Response:
        data = ApiTokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, key = token_create(user=request.user, name=data.validated_data["name"])
        token.key = key
        return shown_once(Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED))

    def perform_destroy(self, instance: ApiToken) -> None:
        token_revoke(token=instance, by=self.request.user)


IDEMPOTENCY_PARAMETER = {
    "in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string", "maxLength": 255},
    "description": "Any unique string (a UUID): a retry with the same key and body within 24 hours replays the "
                   "first answer instead of doing the work again (an answer that carried a secret replays as a "
                   "409 saying it was shown once).",
}


NAMES_OBJECTS_IN_BODY = ("/notifications/read/",)
ERRORS = {
    "400": "The request is invalid: `detail` says why, `errors` names the fields",
    "401": "Not signed in, or the token is invalid or expired",
    "402": "The files are released once the invoice is paid",
    "403": "Signed in, but this role may not do this",
    "404": "No such object (or not one this person may see), or a page past the end of a list",
    "409": "Not possible in the object's current state (or a request with this Idempotency-Key still runs)",
    "422": "The Idempotency-Key was used with a different request",
    "429": "Too many attempts; try again later",
}


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular hook: every operation lists the errors it can answer, each as problem+json
    (``agency.exceptions``), so a client generated from the schema knows them; every POST that needs a
    signed-in person takes an ``Idempotency-Key`` (``agency.idempotency``)."""
    result.setdefault("components", {}).setdefault("schemas", {}).setdefault("Problem", {
        "type": "object", "description": "An error (RFC 9457 problem details).",
        "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                       "detail": {"type": "string"},
                       "errors": {"type": "object", "additionalProperties": True,
                                  "description": "Field name: list of messages, for invalid input."}},
        "required": ["title", "status", "detail"],
    })
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            codes = {"400", "403"}
            codes |= {"429"} if path.endswith("/auth/token/") else {"401"}
            # 404: an object in the path, a page past the end of a list, or ids in the body that are not
            # the reader's
            codes |= {"404"} if "{" in path or method == "get" or path.endswith(NAMES_OBJECTS_IN_BODY) else set()
            codes |= {"409"} if method != "get" else set()
            codes |= {"402"} if path.endswith("/download/") else set()
            if method == "post" and not path.endswith("/auth/token/"):
                operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
                codes |= {"409", "422"}
            for code in sorted(codes):
                operation["responses"].setdefault(code, {
                    "description": ERRORS[code],
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
    return result


class BrandSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False, allow_blank=True)
    tagline = serializers.CharField(max_length=200, required=False, allow_blank=True)
    accent = serializers.CharField(max_length=7, required=False, allow_blank=True,
                                   help_text="#RRGGBB; white text on it and links in it need 4.5:1 contrast.")
    header = serializers.CharField(max_length=7, required=False, allow_blank=True,
                                   help_text="#RRGGBB behind the header's white text (4.5:1 contrast).")
    sender_name = serializers.CharField(max_length=80, required=False, allow_blank=True)
    sender_email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    footer = serializers.CharField(max_length=300, required=False, allow_blank=True)
    domain = serializers.CharField(max_length=253, required=False, allow_blank=True)
    logo = serializers.FileField(required=False, write_only=True, help_text="PNG, JPEG or WebP, at most 512 KiB "
                                                                            "(multipart).")
    remove_logo = serializers.BooleanField(required=False, default=False, write_only=True)


def _brand_data(request: Request) -> dict[str, Any]:
    from agency import brand

    shown = brand.current()
    row = brand.stored()
    return {"name": shown.name, "tagline": shown.tagline, "accent": shown.accent, "header": shown.header,
            "sender_name": row.sender_name, "sender_email": row.sender_email, "sender": shown.sender,
            "footer": shown.footer, "domain": row.domain, "base_url": shown.base_url,
            "logo_url": request.build_absolute_uri(f"{reverse('brand_logo')}?v={shown.version}") if shown.logo else None}


class BrandView(APIView):
    """The studio's brand (``agency.brand``): anyone signed in reads it, admins change it."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="The studio's brand as pages and mails use it")
    def get(self, request: Request) -> Response:
        return Response(_brand_data(request))

    @extend_schema(request={"application/json": BrandSerializer, "multipart/form-data": BrandSerializer},
                   responses={200: OpenApiTypes.OBJECT},
                   summary="Change the brand (admins): the fields sent, empty back to the default; a logo as multipart")
    def patch(self, request: Request) -> Response:
        from agency import brand

        if not can_edit_brand(request.user):
            raise NotPermitted("Only the studio's admins change its brand.")
        data = BrandSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        upload = fields.pop("logo", None)
        brand.brand_update(by=request.user, logo=upload.read() if upload else None, **fields)
        return Response(_brand_data(request))
