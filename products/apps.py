from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "products"

    def ready(self) -> None:
        # Every demo tenant gets the demo catalogue (tenants.demo.seed_demo) through this hook.
        from saas.hooks import hooks

        hooks.demo_seeders["products"] = seed_demo_catalogue


def seed_demo_catalogue(tenant_id: str) -> None:
    """``services.seed_demo_products``, imported when the seeder first runs."""
    from .services import seed_demo_products

    seed_demo_products(tenant_id=tenant_id)
