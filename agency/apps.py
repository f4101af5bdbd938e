from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class AgencyConfig(AppConfig):
    name = "agency"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from agency import security_log
        from agency.calendar import forget_studio_calendar
        from agency.models import BusinessCalendar, Closure

        for model in (BusinessCalendar, Closure):
            post_save.connect(forget_studio_calendar, sender=model, dispatch_uid=f"calendar-save-{model.__name__}")
            post_delete.connect(forget_studio_calendar, sender=model, dispatch_uid=f"calendar-delete-{model.__name__}")

        user_logged_in.connect(security_log.on_logged_in, dispatch_uid="security-log-sign-in")
        user_login_failed.connect(security_log.on_login_failed, dispatch_uid="security-log-sign-in-failed")
        user_locked_out.connect(security_log.on_locked_out, dispatch_uid="security-log-locked-out")
