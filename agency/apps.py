from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class AgencyConfig(AppConfig):
    name = "agency"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agency.calendar import forget_studio_calendar
        from agency.models import BusinessCalendar, Closure

        for model in (BusinessCalendar, Closure):
            post_save.connect(forget_studio_calendar, sender=model, dispatch_uid=f"calendar-save-{model.__name__}")
            post_delete.connect(forget_studio_calendar, sender=model, dispatch_uid=f"calendar-delete-{model.__name__}")
