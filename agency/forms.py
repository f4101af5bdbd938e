"""Form helpers shared by every app's pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django import forms
from django.core.exceptions import ValidationError

from agency.exceptions import DomainError, NotPermitted, RuleViolation

T = TypeVar("T")


def run_service(form: forms.BaseForm, call: Callable[[], T]) -> T | None:
    """Run a service for a valid form; put its refusal on the form (field or top) and return None.

    Pages keep what was typed when a rule refuses it: the form is re-rendered with the message. A
    permission refusal is not a form error: it propagates and answers 403 (``DomainErrorMiddleware``).
    """
    try:
        return call()
    except NotPermitted:
        raise
    except RuleViolation as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    except DomainError as exc:
        form.add_error(None, exc.message)
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, exc)
    return None




