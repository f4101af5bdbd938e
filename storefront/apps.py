from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_schedules(sender: AppConfig, **kwargs: object) -> None:
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="Delete estimates older than a day",
        defaults={"func": "storefront.tasks.delete_expired_estimates", "schedule_type": Schedule.HOURLY, "repeats": -1},
    )


class StorefrontConfig(AppConfig):
    name = "storefront"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agency.navigation import register
        from agency.notifications import register as register_kind
        from storefront import permissions, receivers

        post_migrate.connect(ensure_schedules, sender=self)
        register("storefront:portfolio_manage", "Portfolio", permissions.can_curate_portfolio, position=92)
        register("storefront:trial_list", "Trials", permissions.can_answer_trials, position=93)
        register_kind("rating_request", "A finished order waits for your rating", {"client_admin"})
        register_kind("trial_requested", "A prospect asks for a free trial", {"account_manager", "admin"})
        # jobs never imports the storefront: it announces what happened, and the storefront follows.
        receivers.connect()
