from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_schedules(sender: AppConfig, **kwargs: object) -> None:
    """Billing's periodic tasks as django-q2 Schedule rows, made or updated idempotently after migrate."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="Expire unanswered quotes",
        defaults={"func": "billing.tasks.expire_quotes", "schedule_type": Schedule.HOURLY, "repeats": -1},
    )


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agency.navigation import register
        from billing import permissions, services, workflow
        from jobs.review import revision_round_changed
        from jobs.workflow import order_status_changed

        post_migrate.connect(ensure_schedules, sender=self)
        register("billing:price_list_list", "Price lists", permissions.can_manage_prices_nav, position=60)
        # jobs never imports billing: it announces order changes, and billing keeps quotes in step.
        order_status_changed.connect(workflow.on_order_status_changed, dispatch_uid="billing.quotes")
        revision_round_changed.connect(services.on_revision_round_changed, dispatch_uid="billing.revision_charges")
