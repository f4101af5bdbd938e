from django.apps import AppConfig


class AgencyConfig(AppConfig):
    name = "agency"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agency import receivers
        from agency.navigation import register
        from agency.permissions import can_edit_brand

        receivers.connect()
        register("brand_settings", "Brand", can_edit_brand, position=96)
