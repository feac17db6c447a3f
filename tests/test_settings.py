import pytest

from shop.errors import ConfigError
from shop.settings import PLACEHOLDER_ADMIN_KEY, Settings


def test_env_prefix_and_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOPWRIGHT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SHOPWRIGHT_PORT", "9123")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.port == 9123
    assert settings.db_url == f"sqlite:///{(tmp_path / 'shop.db').resolve()}"
    assert settings.models_dir == tmp_path / "models"


def test_toml_file_is_read_and_env_wins(monkeypatch, tmp_path):
    config = tmp_path / "shop.toml"
    config.write_text('port = 8100\nshop_name = "Toml Shop"\n')
    monkeypatch.setenv("SHOPWRIGHT_CONFIG", str(config))
    monkeypatch.setenv("SHOPWRIGHT_PORT", "8200")
    settings = Settings()
    assert settings.shop_name == "Toml Shop"
    assert settings.port == 8200


def test_database_url_overrides_sqlite(tmp_path):
    settings = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://u:p@db/shop")
    assert settings.db_url == "postgresql+psycopg://u:p@db/shop"


def test_prod_refuses_placeholder_admin_key(tmp_path):
    with pytest.raises(ConfigError, match="ADMIN_KEY"):
        Settings(mode="prod", data_dir=tmp_path)
    assert Settings(mode="prod", admin_key="s3cret-enough", data_dir=tmp_path,
                    shop_name="Shop", shop_url="https://shop.example",
                    shop_postal_address="Shop, 1 Main St, Town").mode == "prod"
    assert Settings(mode="dev").admin_key.get_secret_value() == PLACEHOLDER_ADMIN_KEY


def test_unknown_setting_is_rejected(monkeypatch, tmp_path):
    config = tmp_path / "shop.toml"
    config.write_text("prot = 1\n")
    monkeypatch.setenv("SHOPWRIGHT_CONFIG", str(config))
    with pytest.raises(Exception, match="prot"):
        Settings()
