from django.apps import AppConfig


class AgencyConfig(AppConfig):
    name = "agency"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agency import brand, receivers
        from agency.navigation import register

        receivers.connect()
        register("brand_settings", "Brand", brand.can_edit_brand, position=96)
