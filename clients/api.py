"""API for companies and style guides (thin: validate → service/selector → serialize)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from agency.api import ScopedRelatedField
from agency.exceptions import RuleViolation
from clients import permissions, selectors, services
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
