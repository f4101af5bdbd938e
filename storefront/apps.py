from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    name = "storefront"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agency.navigation import register
        from agency.notifications import register as register_kind
        from storefront import permissions, receivers

        register("storefront:portfolio_manage", "Portfolio", permissions.can_curate_portfolio, position=92)
        register_kind("rating_request", "A finished order waits for your rating", {"client_admin"})
        # jobs never imports the storefront: it announces what happened, and the storefront follows.
        receivers.connect()
