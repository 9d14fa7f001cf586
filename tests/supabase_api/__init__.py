"""A stand-in for the Supabase Management API and a hosted project's functions URL."""
