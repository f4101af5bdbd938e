from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_schedules(sender: AppConfig, **kwargs: object) -> None:
    """Periodic tasks as django-q2 Schedule rows, made or updated idempotently after migrate."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="SLA watch",
        defaults={"func": "jobs.tasks.sla_sweep", "schedule_type": Schedule.MINUTES, "minutes": 10, "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name="Expire unanswered quotes",
        defaults={"func": "billing.tasks.expire_quotes", "schedule_type": Schedule.HOURLY, "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name="Sweep stuck image uploads",
        defaults={"func": "jobs.tasks.sweep_stuck_images", "schedule_type": Schedule.MINUTES, "minutes": 10,
                  "repeats": -1},
    )


class JobsConfig(AppConfig):
    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(ensure_schedules, sender=self)
