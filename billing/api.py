"""API for price lists and quotes."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agency.exceptions import NotPermitted
from agency.fields import AmountSerializerField
from agency.uploads import content_disposition
from billing import documents, exports, invoicing, permissions, selectors, services, workflow
from billing.models import Invoice, PriceList
from billing.serializers import (
    ExportQuerySerializer,
    InvoiceCreditSerializer,
    InvoiceFilterSerializer,
    InvoiceGenerateSerializer,
    InvoicePaySerializer,
    InvoiceSerializer,
    InvoiceVoidSerializer,
    PriceListCreateSerializer,
    PriceListSerializer,
    QuoteDeclineSerializer,
    QuoteLineInputSerializer,
    QuoteLineSerializer,
    QuoteSendSerializer,
    QuoteSerializer,
)
from jobs.selectors import order_get


@extend_schema_view(
    list=extend_schema(summary="Price lists (a client reads its own, or the default)"),
    retrieve=extend_schema(summary="One price list"),
    create=extend_schema(request=PriceListCreateSerializer, responses={201: PriceListSerializer}),
    partial_update=extend_schema(request=PriceListSerializer, responses=PriceListSerializer),
)
class PriceListViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = PriceListSerializer
    action_permissions = {"default": permissions.can_view_price_lists, "create": permissions.can_edit_price_lists,
                          "partial_update": permissions.can_edit_price_lists}
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return PriceList.objects.none()
        return selectors.price_list_list(self.request.user)

    def create(self, request: Request) -> Response:
        data = PriceListCreateSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        rules = fields.pop("rules", None)
        price_list = services.price_list_save(by=request.user, fields=fields, rules=rules)
        return Response(PriceListSerializer(price_list).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        price_list = self.get_object()
        data = PriceListSerializer(price_list, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        rules = fields.pop("rules", None)
        price_list = services.price_list_save(by=request.user, fields=fields, rules=rules, price_list=price_list)
        return Response(PriceListSerializer(price_list).data)


class OrderQuoteView(APIView):
    """The order's latest quote (GET) or a new draft from the price list (POST, account managers)."""

    @extend_schema(responses=QuoteSerializer, summary="The order's latest quote")
    def get(self, request: Request, pk: Any) -> Response:
        order = order_get(request.user, pk)
        return Response(QuoteSerializer(selectors.latest_quote(request.user, order)).data)

    @extend_schema(request=None, responses={201: QuoteSerializer}, summary="Draft a quote from the price list")
    def post(self, request: Request, pk: Any) -> Response:
        order = order_get(request.user, pk)
        quote = services.quote_draft(order=order, by=request.user)
        return Response(QuoteSerializer(selectors.quote_queryset(request.user).get(pk=quote.pk)).data,
                        status=status.HTTP_201_CREATED)


@extend_schema_view(retrieve=extend_schema(summary="One quote"))
class QuoteViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = QuoteSerializer

    def get_queryset(self) -> Any:
        return selectors.quote_queryset(self.request.user)

    def _answer(self, quote: Any) -> Response:
        return Response(QuoteSerializer(self.get_queryset().get(pk=quote.pk)).data)

    @extend_schema(request=QuoteSendSerializer, responses=QuoteSerializer, summary="Send the quote to the client")
    @action(detail=True, methods=["post"])
    def send(self, request: Request, pk: Any = None) -> Response:
        data = QuoteSendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._answer(workflow.quote_send(quote=self.get_object(), by=request.user, **data.validated_data))

    @extend_schema(request=None, responses=QuoteSerializer, summary="Accept the quote (client admin)")
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: Any = None) -> Response:
        return self._answer(workflow.quote_accept(quote=self.get_object(), by=request.user))

    @extend_schema(request=QuoteDeclineSerializer, responses=QuoteSerializer, summary="Decline the quote with a reason")
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, pk: Any = None) -> Response:
        data = QuoteDeclineSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._answer(workflow.quote_decline(quote=self.get_object(), by=request.user, **data.validated_data))

    @extend_schema(request=QuoteLineInputSerializer, responses={201: QuoteLineSerializer}, summary="Add a line to a draft")
    @action(detail=True, methods=["post"])
    def lines(self, request: Request, pk: Any = None) -> Response:
        data = QuoteLineInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        line = services.quote_line_save(quote=self.get_object(), by=request.user, **data.validated_data)
        return Response(QuoteLineSerializer(line).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    partial_update=extend_schema(request=QuoteLineInputSerializer, responses=QuoteLineSerializer,
                                 summary="Edit a line of a draft quote"),
    destroy=extend_schema(summary="Remove a line from a draft quote"),
)
class QuoteLineViewSet(mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = QuoteLineSerializer
    http_method_names = ["patch", "delete", "options"]

    def get_queryset(self) -> Any:
        return selectors.quote_line_queryset(self.request.user)

    def partial_update(self, request: Request, pk: Any = None) -> Response:
        line = self.get_object()
        current = {"description": line.description, "quantity": line.quantity, "unit_price": line.unit_price}
        data = QuoteLineInputSerializer(data={**current, **request.data})
        data.is_valid(raise_exception=True)
        line = services.quote_line_save(quote=line.quote, by=request.user, line=line, **data.validated_data)
        return Response(QuoteLineSerializer(line).data)

    def perform_destroy(self, instance: Any) -> None:
        services.quote_line_delete(quote=instance.quote, by=self.request.user, line=instance)




class RevisionPriceQuerySerializer(serializers.Serializer):
    changes = serializers.IntegerField(min_value=0, max_value=10_000)


class RevisionPriceSerializer(serializers.Serializer):
    round = serializers.IntegerField()
    free_rounds = serializers.IntegerField()
    changes = serializers.IntegerField()
    billable = serializers.BooleanField()
    fee = AmountSerializerField(max_digits=12, decimal_places=2)
    amount = AmountSerializerField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()


class RevisionPriceView(APIView):
    """What the next revision round with ``changes`` change items would cost (client users and the
    studio's money roles; retouchers and QC never see prices)."""

    @extend_schema(parameters=[RevisionPriceQuerySerializer], responses=RevisionPriceSerializer,
                   summary="The price of the next revision round")
    def get(self, request: Request, pk: Any) -> Response:
        order = order_get(request.user, pk)
        if not permissions.can_view_price_lists(request.user):
            raise NotPermitted("Your role does not see prices.")
        query = RevisionPriceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        price = services.revision_price(order=order, changes=query.validated_data["changes"])
        return Response(RevisionPriceSerializer({
            "round": price.number, "free_rounds": price.free_rounds, "changes": price.changes, "billable": price.billable,
            "fee": price.fee, "amount": price.amount, "currency": price.currency}).data)  # money as strings


@extend_schema_view(
    list=extend_schema(summary="Invoices and credit notes (finance; a client admin reads the company's issued ones)",
                       parameters=[InvoiceFilterSerializer]),
    retrieve=extend_schema(summary="One invoice or credit note with its lines and payments"),
)
class InvoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = InvoiceSerializer
    action_permissions = {"default": permissions.can_view_invoices, "create": permissions.can_manage_invoices}
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Invoice.objects.none()
        qs = selectors.invoice_queryset(self.request.user)
        if self.action == "list":
            filters = InvoiceFilterSerializer(data=self.request.query_params)
            filters.is_valid(raise_exception=True)
            qs = selectors.invoice_list(self.request.user, **filters.validated_data)
        return qs.prefetch_related("lines__order", "payments")

    def _answer(self, invoice: Any, code: int = status.HTTP_200_OK) -> Response:
        return Response(InvoiceSerializer(self.get_queryset().get(pk=invoice.pk)).data, status=code)

    @extend_schema(request=InvoiceGenerateSerializer, responses={201: InvoiceSerializer(many=True)},
                   summary="Draft invoices from completed work: one order, or a client's (up to a month's end)")
    def create(self, request: Request) -> Response:
        data = InvoiceGenerateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        body = data.validated_data
        period = invoicing.month_of(body["month"]) if body.get("month") and body.get("client") else None
        drafts = invoicing.invoice_generate(by=request.user, order=body.get("order"), client=body.get("client"),
                                            period=period)
        rows = self.get_queryset().filter(pk__in=[d.pk for d in drafts])
        return Response(InvoiceSerializer(rows, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=InvoiceSerializer, summary="Issue a draft: number, frozen details")
    @action(detail=True, methods=["post"])
    def issue(self, request: Request, pk: Any = None) -> Response:
        return self._answer(invoicing.invoice_issue(invoice=self.get_object(), by=request.user))

    @extend_schema(request=InvoiceVoidSerializer, responses=InvoiceSerializer, summary="Void with a reason")
    @action(detail=True, methods=["post"])
    def void(self, request: Request, pk: Any = None) -> Response:
        invoice = self.get_object()
        data = InvoiceVoidSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return self._answer(invoicing.invoice_void(invoice=invoice, by=request.user, **data.validated_data))

    @extend_schema(request=InvoiceCreditSerializer, responses={201: InvoiceSerializer},
                   summary="Issue a credit note: the whole invoice, or an amount before VAT")
    @action(detail=True, methods=["post"])
    def credit(self, request: Request, pk: Any = None) -> Response:
        invoice = self.get_object()
        data = InvoiceCreditSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = invoicing.invoice_credit(invoice=invoice, by=request.user, **data.validated_data)
        return self._answer(note, status.HTTP_201_CREATED)

    @extend_schema(request=InvoicePaySerializer, responses={201: InvoiceSerializer},
                   summary="Record a payment (full or partial, never more than is due)")
    @action(detail=True, methods=["post"])
    def pay(self, request: Request, pk: Any = None) -> Response:
        invoice = self.get_object()
        data = InvoicePaySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invoicing.invoice_pay(invoice=invoice, by=request.user, **data.validated_data)
        return self._answer(invoice, status.HTTP_201_CREATED)

    def _file(self, kind: str) -> HttpResponse:
        return documents.file_response(self.get_object(), kind)

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY}, summary="The PDF")
    @action(detail=True, methods=["get"])
    def pdf(self, request: Request, pk: Any = None) -> HttpResponse:
        return self._file("pdf")

    @extend_schema(responses={(200, "application/xml"): OpenApiTypes.STR}, summary="The UBL 2.1 e-invoice (EN 16931)")
    @action(detail=True, methods=["get"])
    def ubl(self, request: Request, pk: Any = None) -> HttpResponse:
        return self._file("ubl")


class _FormatIsTheExportFormat(BaseContentNegotiation):
    """``?format=`` names the export format here (the contract's word), not DRF's renderer override."""

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list[Any], format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


class InvoiceExportView(APIView):
    """The documents issued in a date range, streamed (any size, constant memory)."""

    content_negotiation_class = _FormatIsTheExportFormat

    @extend_schema(parameters=[ExportQuerySerializer], responses={(200, "text/csv"): OpenApiTypes.BINARY,
                                                                 (200, "application/zip"): OpenApiTypes.BINARY},
                   summary="Export invoices and credit notes: lines CSV, Xero, QuickBooks Online or a ZIP of PDF and UBL")
    def get(self, request: Request) -> StreamingHttpResponse:
        if not permissions.can_manage_invoices(request.user):
            raise NotPermitted("Only finance exports invoices.")
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        fmt, date_from, date_to = query.validated_data["format"], query.validated_data["from"], query.validated_data["to"]
        exports.documents_to_export(request.user, date_from, date_to)
        response = StreamingHttpResponse(exports.stream(fmt, date_from, date_to, by=request.user),
                                         content_type=exports.CONTENT_TYPES[fmt])
        response["Content-Disposition"] = content_disposition(exports.export_name(fmt, date_from, date_to))
        response["Cache-Control"] = "private, no-store"
        return response
