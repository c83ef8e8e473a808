-- Users, as the seed's table lists them (id, username, password, email, first_name, last_name,
-- active, role, password_timestamp, create_date, update_date), plus token_version.
--
-- Dates are UTC without an offset, as the seed shows them; the database keeps them, so every
-- origin instance agrees whatever its own clock says.

CREATE TABLE users (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username           TEXT NOT NULL CHECK (char_length(username) BETWEEN 1 AND 64),
    -- A PBKDF2 PHC string carrying its own parameters; never the password, never sent out.
    password           TEXT NOT NULL,
    email              TEXT NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    first_name         TEXT NOT NULL DEFAULT '' CHECK (char_length(first_name) <= 100),
    last_name          TEXT NOT NULL DEFAULT '' CHECK (char_length(last_name) <= 100),
    active             BOOLEAN NOT NULL DEFAULT TRUE,
    role               TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    -- Seconds since the epoch of the last password change (the seed's column, kept for its
    -- readers); revocation is decided by token_version, which no clock can get wrong.
    password_timestamp DOUBLE PRECISION NOT NULL DEFAULT extract(epoch FROM now()),
    -- Carried in every token as `ver`; a password change bumps it, so every token issued
    -- before the change stops working, even one from the same second.
    token_version      BIGINT NOT NULL DEFAULT 0,
    create_date        TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    update_date        TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);

-- Unique without regard to case: "Alice" and "alice" are one account.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE FUNCTION users_touch_update_date() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.update_date := clock_timestamp() AT TIME ZONE 'utc';
    RETURN NEW;
END
$$;

CREATE TRIGGER users_touch_update_date
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION users_touch_update_date();
