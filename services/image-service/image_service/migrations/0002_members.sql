-- Projects an image is shared with (image members).
CREATE TABLE members (
    image_id   text NOT NULL REFERENCES images (image_id),
    member_id  text NOT NULL,
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
    vault_id   text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (image_id, member_id)
);
CREATE INDEX members_by_member ON members (member_id, status);
