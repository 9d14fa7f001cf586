"""Environment drivers: the database, the backup store and the function releases.

Each is an interface (a Protocol) with one implementation today, so that a Supabase
Management API driver can stand beside them without touching the steps."""
