from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_schedules(sender: AppConfig, **kwargs: object) -> None:
    """Billing's periodic tasks as django-q2 Schedule rows, made or updated idempotently after migrate."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="Expire unanswered quotes",
        defaults={"func": "billing.tasks.expire_quotes", "schedule_type": Schedule.HOURLY, "repeats": -1},
    )
    # On the 1st of each month at 02:00 studio time; the first run is the next 1st (kept if it exists).
    from billing.invoicing import first_of_next_month

    monthly, made = Schedule.objects.get_or_create(
        name="Monthly invoices", defaults={"func": "billing.tasks.invoice_monthly", "schedule_type": Schedule.MONTHLY,
                                           "repeats": -1, "next_run": first_of_next_month()})
    if not made and (monthly.func, monthly.schedule_type) != ("billing.tasks.invoice_monthly", Schedule.MONTHLY):
        monthly.func, monthly.schedule_type = "billing.tasks.invoice_monthly", Schedule.MONTHLY
        monthly.save(update_fields=["func", "schedule_type"])


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agency.navigation import register
        from agency.notifications import register as register_kind
        from billing import permissions, receivers

        post_migrate.connect(ensure_schedules, sender=self)
        register("billing:price_list_list", "Price lists", permissions.can_manage_prices_nav, position=60)
        register("billing:invoice_list", "Invoices", permissions.can_view_invoices, position=65)
        register_kind("invoice_issued", "Invoices and credit notes issued to your company", {"client_admin"})
        # jobs never imports billing: it announces what happened, and billing's receivers follow.
        receivers.connect()
        from billing.company_export import invoices
        from jobs.company_export import register as add_to_company_archive

        add_to_company_archive(invoices)
