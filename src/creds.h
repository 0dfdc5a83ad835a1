/*
 * creds.h - finds the AWS credentials (DESIGN.md section 7).
 *
 * Resolution order, first found wins:
 *   1. file, the credentials=FILE mount option (may be NULL): must be a
 *      regular file not readable or writable by group/other, else refused.
 *      Formats: AWS shared-credentials INI ([default] or [profile] with
 *      aws_access_key_id, aws_secret_access_key, aws_session_token), or
 *      KEY=VALUE lines (AWS_ACCESS_KEY_ID=..., AWS_SECRET_ACCESS_KEY=...,
 *      AWS_SESSION_TOKEN=..., optionally "export "-prefixed, as systemd's
 *      EnvironmentFile and shell files write them), or the s3fs-style single
 *      line "ACCESSKEY:SECRET". Comments start with # or ;, blank lines are
 *      skipped. Keys outside any section win; otherwise the section is
 *      chosen as in 3. Anything wrong with this file is an error: it never
 *      falls through to 2 or 3.
 *   2. environment AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 *      AWS_SESSION_TOKEN (only one of the pair set is an error);
 *   3. the shared file $AWS_SHARED_CREDENTIALS_FILE or $HOME/.aws/credentials,
 *      section = profile argument, else $AWS_PROFILE, else "default" (the
 *      user's own file: no mode check).
 *
 * Not thread-safe against concurrent setenv(); call once at mount time.
 */
#ifndef S3BFS_CREDS_H
#define S3BFS_CREDS_H

#include <stddef.h>

struct creds {
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL if none */
	/* Where they came from, for logs: "file /etc/..", "environment",
	 * "/root/.aws/credentials [profile]" - never the secret. */
	char source[128];
};

/*
 * Returns 0, or -ENOENT (nothing found: msg says where it looked), -EACCES
 * (mode of file #1, or it cannot be opened), -EINVAL (malformed: msg says
 * file:line), -ENOMEM. msg: one line for the user, never containing a secret.
 * On error *out is left zeroed.
 */
int creds_load(const char *file, const char *profile, struct creds *out, char *msg, size_t msgsz);

/* OPENSSL_cleanse + free the strings, zero the struct. NULL-safe. */
void creds_clear(struct creds *c);

#endif
