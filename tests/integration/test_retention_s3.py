"""Retention on S3 (issue 24), over real HTTP against moto's server: an order whose terms are over loses every
object under its images' prefixes, more than one ``DeleteObjects`` request's thousand, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs import retention
from jobs.models import Order, OrderStatus, image_prefix
from tests.factories import add_images, make_order

pytestmark = pytest.mark.django_db
NOW = datetime(2027, 6, 15, 10, 0, tzinfo=UTC)


def test_an_expired_order_loses_all_its_objects_in_batches_and_nothing_else(cast, s3_storage, settings):
    settings.LOUPE_KEEP_FILES_DAYS = 90
    order = make_order(cast.acme, status=OrderStatus.COMPLETED)
    Order.objects.filter(pk=order.pk).update(completed_at=NOW - timedelta(days=91))
    [image] = add_images(order, {"standard": 1})
    s3, bucket = s3_storage.client, s3_storage.bucket
    tiles = [f"{image_prefix(image)}/versions/v1/tiles/{n:04d}.webp" for n in range(1005)]
    kept = [f"{image_prefix(image).rsplit('/', 1)[0]}/deliveries/d1/package.zip",  # deliveries: their own terms
            f"clients/{cast.acme.pk}/invoices/INV-2027-00001.pdf"]
    for key in tiles + kept:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    done = retention.purge(now=NOW)
    assert done.orders == [order.number] and done.objects == 1005
    assert list(s3_storage.keys(image_prefix(image) + "/")) == []
    assert sorted(s3_storage.keys(f"clients/{cast.acme.pk}/")) == sorted(kept)
