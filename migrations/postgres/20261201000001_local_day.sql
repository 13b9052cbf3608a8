-- The calendar day of an instant in a user's time zone, or in UTC when the zone is not one
-- PostgreSQL knows. Recording a session used to check the name against pg_timezone_names,
-- which reads the whole time zone database on every call (50-70 ms here, the cap on
-- sessions per second); the conversion itself raises 22023 for an unknown zone, which is
-- cheap to catch.
CREATE OR REPLACE FUNCTION local_day(at_instant timestamptz, zone text) RETURNS date
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
  RETURN (at_instant AT TIME ZONE zone)::date;
EXCEPTION WHEN invalid_parameter_value THEN
  RETURN (at_instant AT TIME ZONE 'UTC')::date;
END
$$;
