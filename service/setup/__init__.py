"""Registering the GitHub App from its manifest (`app.yml`): `deploybot setup` and the
`/setup` page. GitHub creates the App and hands its credentials back once, through the
manifest flow; they are stored 0600 under the data directory, where the settings read them.
No endpoint ever shows the private key, the webhook secret or the client secret."""
