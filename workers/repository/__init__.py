"""What a repository holds, read from its files alone: migration files and the statements
of their SQL, edge function folders. Drivers, steps and the runbook all build on these;
these import none of them."""
