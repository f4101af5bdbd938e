"""API for companies and style guides (thin: validate → service/selector → serialize)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agency.api import ScopedRelatedField
from agency.exceptions import RuleViolation
from agency.idempotency import shown_once
from agency.models import CLIENT_ROLES, Role, SecurityEvent
from agency.permissions import is_client_user
from clients import permissions, selectors, services, webhooks
from clients.models import Membership, WebhookDelivery, WebhookEndpoint
from clients.serializers import (
    ClientInputSerializer,
    ClientOutputSerializer,
    StyleGuideInputSerializer,
    StyleGuideOutputSerializer,
)
from clients.tenancy import client_id_of


class ClientFilterSerializer(serializers.Serializer):
    search = serializers.CharField(required=False, max_length=100)


@extend_schema_view(
    list=extend_schema(summary="Client companies", parameters=[ClientFilterSerializer]),
    retrieve=extend_schema(summary="One client company"),
    create=extend_schema(request=ClientInputSerializer, responses={201: ClientOutputSerializer}),
    partial_update=extend_schema(request=ClientInputSerializer, responses=ClientOutputSerializer),
)
class ClientViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ClientOutputSerializer
    action_permissions = {"default": permissions.can_view_clients, "create": permissions.can_manage_clients,
                          "partial_update": permissions.can_manage_clients}
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        filters = ClientFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.client_list(self.request.user, search=filters.validated_data.get("search", ""))

    def create(self, request: Request) -> Response:
        data = ClientInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        client = services.client_create(by=request.user, **data.validated_data)
        return Response(ClientOutputSerializer(client).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        client = self.get_object()
        data = ClientInputSerializer(client, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        client = services.client_update(client=client, by=request.user, **data.validated_data)
        return Response(ClientOutputSerializer(client).data)


class StyleGuideCreateSerializer(StyleGuideInputSerializer):
    client = ScopedRelatedField(selector=lambda user: selectors.client_list(user), required=False)

    class Meta(StyleGuideInputSerializer.Meta):
        fields = ["client", *StyleGuideInputSerializer.Meta.fields]


class StyleGuideFilterSerializer(serializers.Serializer):
    client = serializers.UUIDField(required=False)
    all_versions = serializers.BooleanField(required=False, default=False)


@extend_schema_view(
    list=extend_schema(summary="Style guides (current versions unless all_versions=true)",
                       parameters=[StyleGuideFilterSerializer]),
    retrieve=extend_schema(summary="One style-guide version"),
    create=extend_schema(request=StyleGuideCreateSerializer, responses={201: StyleGuideOutputSerializer}),
    partial_update=extend_schema(
        request=StyleGuideInputSerializer, responses=StyleGuideOutputSerializer,
        summary="Edit a style guide; a version in use by an order gets a new version instead",
    ),
)
class StyleGuideViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = StyleGuideOutputSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        if self.action != "list":
            return selectors.style_guide_list(self.request.user, current_only=False)
        filters = StyleGuideFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.style_guide_list(
            self.request.user, client=filters.validated_data.get("client"),
            current_only=not filters.validated_data["all_versions"],
        )

    def create(self, request: Request) -> Response:
        data = StyleGuideCreateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        content = dict(data.validated_data)
        client = content.pop("client", None)
        if client is None:
            own = client_id_of(request.user)
            if own is None:
                raise RuleViolation("Choose the client this style guide is for.", field="client")
            client = selectors.client_get(request.user, own)
        guide = services.style_guide_create(client=client, by=request.user, **content)
        return Response(StyleGuideOutputSerializer(guide).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        guide = self.get_object()
        data = StyleGuideInputSerializer(guide, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        guide = services.style_guide_update(guide=guide, by=request.user, **data.validated_data)
        return Response(StyleGuideOutputSerializer(guide).data)


class MemberSerializer(serializers.ModelSerializer):
    client = serializers.UUIDField(source="client_id", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)
    role = serializers.CharField(source="seat_role", read_only=True)
    invitation_pending = serializers.SerializerMethodField()
    last_login = serializers.DateTimeField(source="user.last_login", read_only=True, allow_null=True)

    class Meta:
        model = Membership
        fields = ["id", "client", "email", "full_name", "role", "invitation_pending", "last_login", "created_at"]
        read_only_fields = fields

    def get_invitation_pending(self, membership: Membership) -> bool:
        return not membership.user.has_usable_password()


class MemberInviteSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    full_name = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=[r for r in CLIENT_ROLES], default=Role.CLIENT_MEMBER)
    client = ScopedRelatedField(selector=lambda user: selectors.client_list(user), required=False,
                                help_text="The company (studio users); a client admin invites into their own.")


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=[r for r in CLIENT_ROLES])


class MemberFilterSerializer(serializers.Serializer):
    client = serializers.UUIDField(required=False)


@extend_schema_view(
    list=extend_schema(summary="The team: a client user's company, or every company's for the studio",
                       parameters=[MemberFilterSerializer]),
    create=extend_schema(request=MemberInviteSerializer, responses={201: MemberSerializer},
                         summary="Invite someone by e-mail (client admins for their company, managers for any)"),
    partial_update=extend_schema(request=MemberRoleSerializer, responses=MemberSerializer,
                                 summary="Make a member an admin or an admin a member"),
    destroy=extend_schema(summary="Remove a seat or cancel an invitation (ends access at once)"),
)
class MemberViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = MemberSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        qs = selectors.team_list(self.request.user)
        if self.action == "list":
            filters = MemberFilterSerializer(data=self.request.query_params)
            filters.is_valid(raise_exception=True)
            if filters.validated_data.get("client"):
                qs = qs.filter(client_id=filters.validated_data["client"])
        return qs

    def create(self, request: Request) -> Response:
        data = MemberInviteSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        body = dict(data.validated_data)
        client = body.pop("client", None) or (selectors.client_list(request.user).filter(pk=client_id_of(request.user))
                                              .first())
        if client is None:
            raise RuleViolation("Name the company to invite into.", field="client")
        membership = services.member_add(client=client, by=request.user, **body)
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        membership = self.get_object()
        data = MemberRoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_set_role(membership=membership, by=request.user, role=data.validated_data["role"])
        return Response(MemberSerializer(self.get_queryset().get(pk=membership.pk)).data)

    def perform_destroy(self, instance: Membership) -> None:
        services.member_remove(membership=instance, by=self.request.user)

    @extend_schema(request=None, responses={204: None},
                   summary="Remove the seat and erase the person: their name and e-mail address are anonymised "
                           "wherever Loupe keeps them (timeline, messages, marks, security log); invoices stay")
    @action(detail=True, methods=["post"])
    def erase(self, request: Request, pk: Any = None) -> Response:
        services.member_erase(membership=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: None}, summary="Send a pending invitation again")
    @action(detail=True, methods=["post"])
    def resend(self, request: Request, pk: Any = None) -> Response:
        services.member_resend(membership=self.get_object(), by=request.user)
        return Response(status=status.HTTP_202_ACCEPTED)


class SecurityEventSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = SecurityEvent
        fields = ["id", "at", "kind", "kind_label", "subject_email", "actor_email", "company_id", "company_name",
                  "ip_address", "user_agent", "detail"]
        read_only_fields = fields


class SecurityEventFilterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SecurityEvent.Kind.choices, required=False)
    person = serializers.CharField(required=False, max_length=254, help_text="An e-mail address or part of it.")


@extend_schema_view(list=extend_schema(parameters=[SecurityEventFilterSerializer],
                                       summary="The security log: the studio's for admins, the company's for a "
                                               "client admin"))
class SecurityEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = SecurityEventSerializer
    action_permissions = {"default": permissions.can_view_security_log}

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return SecurityEvent.objects.none()
        filters = SecurityEventFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.security_events(self.request.user, **filters.validated_data)


class WebhookSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=webhooks.SUBSCRIBABLE))

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "client", "url", "events", "description", "is_active", "disabled_reason", "created_at",
                  "secret_rotated_at"]
        read_only_fields = fields


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="Signs every delivery (Loupe-Signature); shown this once.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, help_text="https:// only; the address must be public.")
    events = serializers.ListField(child=serializers.ChoiceField(choices=webhooks.SUBSCRIBABLE), min_length=1,
                                   max_length=len(webhooks.SUBSCRIBABLE))
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    client = ScopedRelatedField(selector=lambda user: selectors.client_list(user), required=False, allow_null=True,
                                help_text="The company whose events it receives; a client admin's own by default. "
                                          "Studio managers leave it out for the studio's endpoint (every company).")


class WebhookUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, required=False)
    events = serializers.ListField(child=serializers.ChoiceField(choices=webhooks.SUBSCRIBABLE), min_length=1,
                                   max_length=len(webhooks.SUBSCRIBABLE), required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "event_id", "event_type", "status", "attempts", "created_at", "next_attempt_at", "delivered_at",
                  "last_status_code", "last_latency_ms", "last_error"]
        read_only_fields = fields


class RedeliverSerializer(serializers.Serializer):
    delivery = serializers.UUIDField(help_text="The delivery of this endpoint to send again.")


class WebhookSecretSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret, shown this once.")


@extend_schema_view(
    list=extend_schema(summary="Webhook endpoints (a client admin's company's; every one for studio managers)"),
    retrieve=extend_schema(summary="One webhook endpoint"),
    create=extend_schema(request=WebhookCreateSerializer, responses={201: WebhookCreatedSerializer},
                         summary="Register an endpoint; its signing secret is in this answer only"),
    partial_update=extend_schema(request=WebhookUpdateSerializer, responses=WebhookSerializer,
                                 summary="Change the URL, events or description, or switch it on or off"),
    destroy=extend_schema(summary="Delete an endpoint and its delivery log"),
)
class WebhookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                     viewsets.GenericViewSet):
    serializer_class = WebhookSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    action_permissions = {"default": permissions.can_open_webhooks}

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return WebhookEndpoint.objects.none()
        return selectors.webhook_list(self.request.user)

    def create(self, request: Request) -> Response:
        data = WebhookCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        body = dict(data.validated_data)
        client = body.pop("client", None)
        if client is None and is_client_user(request.user):
            client = selectors.client_list(request.user).filter(pk=client_id_of(request.user)).first()
        endpoint, secret = webhooks.endpoint_create(by=request.user, client=client, **body)
        endpoint.secret = secret
        return shown_once(Response(WebhookCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED))

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        data = WebhookUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = webhooks.endpoint_update(endpoint=self.get_object(), by=request.user, **data.validated_data)
        return Response(WebhookSerializer(endpoint).data)

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        webhooks.endpoint_delete(endpoint=instance, by=self.request.user)

    @extend_schema(responses=WebhookDeliverySerializer(many=True), summary="The endpoint's deliveries, newest first")
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, pk: Any = None) -> Response:
        page = self.paginate_queryset(selectors.webhook_deliveries(request.user, self.get_object()))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(request=RedeliverSerializer, responses={202: WebhookDeliverySerializer},
                   summary="Send one of the endpoint's deliveries again now")
    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, pk: Any = None) -> Response:
        endpoint = self.get_object()
        data = RedeliverSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        delivery = selectors.webhook_deliveries(request.user, endpoint).filter(pk=data.validated_data["delivery"]).first()
        if delivery is None:
            raise RuleViolation("No such delivery for this endpoint.", field="delivery")
        delivery = webhooks.redeliver(delivery=delivery, by=request.user)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer}, summary="Send a test delivery (ping)")
    @action(detail=True, methods=["post"])
    def ping(self, request: Request, pk: Any = None) -> Response:
        delivery = webhooks.ping(endpoint=self.get_object(), by=request.user)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=WebhookSecretSerializer,
                   summary="A new signing secret (the previous one also signs for 24 hours)")
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: Any = None) -> Response:
        secret = webhooks.endpoint_rotate_secret(endpoint=self.get_object(), by=request.user)
        return shown_once(Response({"secret": secret}))
