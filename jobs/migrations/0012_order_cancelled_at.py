"""When an order was cancelled (retention counts a cancelled order's terms from it): orders cancelled before
this field existed take the time of their "order.cancelled" timeline line, else their last change."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce


def backfill(apps, schema_editor):
    Order = apps.get_model("jobs", "Order")
    Event = apps.get_model("jobs", "Event")
    cancelled = Event.objects.filter(order=OuterRef("pk"), verb="order.cancelled").order_by("-created_at")
    Order.objects.filter(status="cancelled", cancelled_at__isnull=True).update(
        cancelled_at=Coalesce(Subquery(cancelled.values("created_at")[:1]), "updated_at"))


class Migration(migrations.Migration):

    dependencies = [
        ("jobs", "0011_company_export"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="cancelled_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
