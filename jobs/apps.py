from django.apps import AppConfig
from django.db.models.signals import post_migrate


def ensure_schedules(sender: AppConfig, **kwargs: object) -> None:
    """Periodic tasks as django-q2 Schedule rows, made or updated idempotently after migrate."""
    from django_q.models import Schedule

    Schedule.objects.filter(name="Sweep stuck image uploads").delete()  # renamed
    Schedule.objects.update_or_create(
        name="SLA watch",
        defaults={"func": "jobs.tasks.sla_sweep", "schedule_type": Schedule.MINUTES, "minutes": 10, "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name="Approve deliveries left unanswered",
        defaults={"func": "jobs.tasks.auto_approve", "schedule_type": Schedule.HOURLY, "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name="Sweep stuck uploads and delivery builds",
        defaults={"func": "jobs.tasks.sweep_stuck_images", "schedule_type": Schedule.MINUTES, "minutes": 10,
                  "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name="Remind reviewers of reviews waiting on them",
        defaults={"func": "jobs.tasks.review_reminders", "schedule_type": Schedule.DAILY, "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name="Delete files whose terms are over",
        defaults={"func": "jobs.tasks.apply_retention", "schedule_type": Schedule.DAILY, "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name="Count the quality report's closed months",
        defaults={"func": "jobs.tasks.tally_quality", "schedule_type": Schedule.DAILY, "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name="Retry webhook deliveries",
        defaults={"func": "clients.tasks.retry_webhooks", "schedule_type": Schedule.MINUTES, "minutes": 1,
                  "repeats": -1},
    )
    Schedule.objects.update_or_create(
        name="Forget old Idempotency-Key answers",
        defaults={"func": "agency.tasks.forget_idempotency_keys", "schedule_type": Schedule.HOURLY, "repeats": -1},
    )


class JobsConfig(AppConfig):
    name = "jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agency.navigation import register
        from jobs import notifications, permissions, receivers

        post_migrate.connect(ensure_schedules, sender=self)
        receivers.connect()
        register("jobs:dashboard", "Dashboard", permissions.can_view_studio_reports, position=10)
        register("jobs:work_queue", "My work", permissions.can_view_work_queue, position=15)
        register("jobs:qc_queue", "QC queue", permissions.can_view_qc_queue, position=16)
        register("jobs:order_list", "Orders", lambda user: True, position=20)
        register("jobs:workload", "Workload", permissions.can_view_workload, position=30)
        register("jobs:on_time_report", "Reports", permissions.can_view_studio_reports, position=90)
        register("jobs:quality_report", "Quality", permissions.can_view_quality_report, position=91)
        notifications.register_kinds()
