from django.apps import AppConfig


class ClientsConfig(AppConfig):
    name = "clients"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agency.navigation import register
        from agency.permissions import is_client_user
        from clients import permissions

        register("clients:style_guide_list", "Style guides", permissions.can_browse_style_guides, position=40)
        register("clients:client_list", "Clients", permissions.can_view_clients, position=50)
        register("clients:team", "Team", is_client_user, position=70)
        register("clients:security_log", "Security", permissions.can_view_security_log, position=95)
