"""The redaction filter knows the secrets in play and the shapes of the ones minted later."""

from __future__ import annotations

from service.observability.redact import MASK, Redactor

# Not a key: random base64 between PEM markers, assembled here so no private-key header
# stands in the repository.
KIND = "RSA PRIVATE KEY"
PEM = (f"-----BEGIN {KIND}-----\n"
       "MIIEowIBAAKCAQEAvhR5dVtLQ3Qm4pBIC8b2cB1u4Jv0o3n1zVbS5mWlHq0Gm9Yp\n"
       "c2vV7P8x0xk1K3Yxj6qz0ZkY0u4QfK0m3n9a8b7c6d5e4f3g2h1i0j9k8l7m6n5o\n"
       f"-----END {KIND}-----\n")


def test_registered_secrets_and_url_passwords_are_masked() -> None:
    r = Redactor()
    r.register("webhook-secret-123", "postgresql://app:s3cret-pw@db.example:5432/stg", None, "")
    out = r("sig with webhook-secret-123; dsn postgresql://app:s3cret-pw@db.example:5432/stg "
            "and later the bare s3cret-pw")
    assert "webhook-secret-123" not in out and "s3cret-pw" not in out
    assert "postgresql://app:[redacted]@db.example:5432/stg" in out  # the address stays


def test_secret_shapes_are_masked_without_registration() -> None:
    r = Redactor()
    text = (f"key:\n{PEM}token ghs_{'a' * 40} user ghu_{'B' * 36} "
            "dsn redis://:hunter22@cache:6379/0 and host=db password=topsecret dbname=x "
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.c2lnbmF0dXJlc2ln "
            "Authorization: Bearer abcdefghijklmnopqrstuvwxyz")
    out = r(text)
    for leaked in ("MIIEowIBAAKCAQEA", "ghs_aaaa", "ghu_BBBB", "hunter22", "topsecret",
                   "eyJyb2xlIjoiYW5vbiJ9", "abcdefghijklmnopqrstuvwxyz"):
        assert leaked not in out, leaked
    assert out.count(MASK) >= 7


def test_a_partial_private_key_is_caught_once_the_key_is_registered() -> None:
    r = Redactor()
    r.register(PEM)
    middle = PEM.splitlines()[2]
    assert middle not in r(f"… {middle} …")


def test_the_environment_gives_its_secret_named_values() -> None:
    r = Redactor()
    r.register_environment({
        "STAGING_DATABASE_URL": "postgresql://u:env-pw-1@h/db",
        "STAGING_ANON_KEY": "anon-key-value-1",
        "GITHUB_WEBHOOK_SECRET": "hook-secret-value",
        "GITHUB_PRIVATE_KEY_PATH": "/etc/deploybot/key.pem",  # a path, not a secret
        "GITHUB_APP_ID": "424242",
        "HOME": "/root",
    })
    assert r.secrets() == {"env-pw-1", "anon-key-value-1", "hook-secret-value"}
    assert r("/etc/deploybot/key.pem for app 424242") == "/etc/deploybot/key.pem for app 424242"


def test_ordinary_text_is_left_alone() -> None:
    r = Redactor()
    r.register("ab")  # too short to be a secret: ignored rather than masking words
    text = "applying 20260107000001_create_quotes_table.sql (2 statements) about 3 s"
    assert r(text) == text
