from __future__ import annotations

from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """``?page=`` and ``?page_size=`` (at most 100), answering ``count``, ``next``, ``previous`` and
    ``results`` (DESIGN.md §7)."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
