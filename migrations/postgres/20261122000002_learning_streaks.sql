-- Streaks count calendar days in the user's time zone; remember the last such day.
ALTER TABLE user_analytics ADD COLUMN IF NOT EXISTS last_active_day DATE NULL;
