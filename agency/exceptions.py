"""Domain errors and the API's error format (RFC 9457 ``application/problem+json``).

Services and workflow functions raise ``DomainError`` subclasses; pages turn them into a message and
the API into a problem document: ``InvalidTransition`` answers 409, ``NotPermitted`` 403.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status

PROBLEM_JSON = "application/problem+json"
logger = logging.getLogger("loupe.security")


class DomainError(Exception):
    """A business rule refused the request. ``message`` is shown to the user as is."""

    status_code = status.HTTP_409_CONFLICT
    title = "Conflict"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidTransition(DomainError):
    """The object is not in a state that allows this change."""


class NotPermitted(DomainError):
    """The user's role does not allow this action on an object they can see."""

    status_code = status.HTTP_403_FORBIDDEN
    title = "Forbidden"


class RuleViolation(DomainError):
    """The input is well-formed but breaks a business rule; ``field`` names the culprit."""

    status_code = status.HTTP_400_BAD_REQUEST
    title = "Invalid input"

    def __init__(self, message: str, field: str = "non_field_errors") -> None:
        super().__init__(message)
        self.field = field


def problem(status_code: int, title: str, detail: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status_code, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return body


def _as_field_errors(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {key: value if isinstance(value, (list, dict)) else [value] for key, value in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": detail}
    return {"non_field_errors": [detail]}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> JsonResponse | None:
    """DRF's exception handler, answering every error as problem+json."""
    # Imported here: rest_framework.views loads the authentication classes, which import this module.
    from rest_framework.views import exception_handler

    request = context.get("request")
    if isinstance(exc, RuleViolation):
        body = problem(exc.status_code, exc.title, exc.message, {exc.field: [exc.message]})
        return JsonResponse(body, status=exc.status_code, content_type=PROBLEM_JSON)
    if isinstance(exc, DomainError):
        if isinstance(exc, NotPermitted):
            logger.info("denied: %s %s (%s)", getattr(request, "method", "?"), getattr(request, "path", "?"), exc)
        return JsonResponse(problem(exc.status_code, exc.title, exc.message), status=exc.status_code,
                            content_type=PROBLEM_JSON)
    if isinstance(exc, DjangoValidationError):
        # A model's full_clean() inside a service: the same 400 as a serializer's field errors.
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        exc = exceptions.ValidationError(detail)
    if isinstance(exc, Http404):
        logger.info("not found: %s %s", getattr(request, "method", "?"), getattr(request, "path", "?"))
        exc = exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's 500 handler answers with a bare problem document
    title = response.status_text
    if isinstance(exc, exceptions.ValidationError):
        body = problem(response.status_code, "Invalid input", "The request has invalid fields.",
                       _as_field_errors(exc.detail))
    elif isinstance(exc, exceptions.ParseError):
        body = problem(response.status_code, "Malformed request body", str(exc.detail),
                       {"body": [str(exc.detail)]})
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        body = problem(response.status_code, title, str(detail))
    # A plain JsonResponse, so the body is JSON whatever renderer the view negotiated (the schema
    # view renders YAML); DRF's headers such as WWW-Authenticate and Retry-After are kept.
    problem_doc = JsonResponse(body, status=response.status_code, content_type=PROBLEM_JSON)
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):
        if header in response:
            problem_doc[header] = response[header]
    return problem_doc


def problem_response(status_code: int, title: str, detail: str) -> JsonResponse:
    return JsonResponse(problem(status_code, title, detail), status=status_code, content_type=PROBLEM_JSON)
