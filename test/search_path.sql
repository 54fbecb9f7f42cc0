-- The extension's objects live in the schema "inventory"; the tests call them
-- unqualified, as an application whose search_path ends with it would.
SELECT format('ALTER DATABASE %I SET search_path = "$user", public, inventory',
              current_database()) \gexec
