/* SPDX-License-Identifier: MIT */
/* SmPolicy (identity rules) and SmRouteClaims (route ownership), in process */
#include "config.h"

#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "sm-error.h"
#include "sm-policy.h"
#include "sm-route-claims.h"

#define ALICE 4000001
#define BOB   4000002
#define HOLD  (30 * G_USEC_PER_SEC)

static SmPeerCredentials
peer (uid_t uid, gid_t gid)
{
  SmPeerCredentials creds = { TRUE, FALSE, uid, gid, 0 };

  return creds;
}

static void
test_privileged_ports (void)
{
  g_autoptr (SmPolicy) policy = sm_policy_new ();
  g_autoptr (GError) error = NULL;
  SmPeerCredentials root = peer (0, 0);
  SmPeerCredentials nobody = peer (65534, 65534);
  SmPeerCredentials self = peer (geteuid (), getegid ());
  SmPeerCredentials unknown = { FALSE, FALSE, 0, (gid_t) -1, 0 };

  g_assert_true (sm_policy_check_port (policy, &root, 80, NULL));
  g_assert_true (sm_policy_check_port (policy, &self, 443, NULL));
  g_assert_true (sm_policy_check_port (policy, &nobody, 1024, NULL));

  g_assert_false (sm_policy_check_port (policy, &nobody, 1023, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_PERMISSION_DENIED);
  g_assert_cmpstr (error->message, ==,
                   "permission denied: port 1023 needs root or group socketmaster");
  g_clear_error (&error);

  /* Unknown peers get the least rights, even with uid 0 in the struct */
  g_assert_false (sm_policy_check_port (policy, &unknown, 80, NULL));
  g_assert_false (sm_policy_is_superuser (&unknown));
  g_assert_cmpuint (sm_policy_owner_of (&unknown), ==, SM_POLICY_OWNER_UNKNOWN);

  /* A member of the privileged group (by its gid here) may */
  sm_policy_set_privileged_group (policy, "65534");
  g_assert_true (sm_policy_check_port (policy, &nobody, 80, NULL));
  g_assert_false (sm_policy_check_port (policy, &unknown, 80, &error));
  g_assert_true (g_str_has_suffix (error->message, "needs root or group 65534"));
}

static void
test_allow_lists (void)
{
  g_autoptr (SmPolicy) policy = sm_policy_new ();
  g_autoptr (GError) error = NULL;
  SmPeerCredentials alice = peer (ALICE, ALICE);
  SmPeerCredentials bob = peer (BOB, 4242);
  SmPeerCredentials root = peer (0, 0);

  /* No list: everyone */
  g_assert_true (sm_policy_check_peer (policy, &bob, NULL));

  g_assert_true (sm_policy_allow_user (policy, "4000001", NULL));
  g_assert_true (sm_policy_check_peer (policy, &alice, NULL));
  g_assert_true (sm_policy_check_peer (policy, &root, NULL));
  g_assert_false (sm_policy_check_peer (policy, &bob, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_PERMISSION_DENIED);
  g_assert_true (g_str_has_prefix (error->message, "permission denied: uid 4000002"));
  g_clear_error (&error);

  g_assert_true (sm_policy_allow_group (policy, "4242", NULL));
  g_assert_true (sm_policy_check_peer (policy, &bob, NULL));

  g_assert_false (sm_policy_allow_user (policy, "no-such-user-here", &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT);
}

static void
test_token (void)
{
  g_autoptr (SmPolicy) policy = sm_policy_new ();
  g_autoptr (GBytes) token = g_bytes_new_static ("s3cret", 6);
  g_autoptr (GError) error = NULL;
  SmPeerCredentials tcp_peer = peer (ALICE, ALICE);
  SmPeerCredentials unix_peer = { TRUE, TRUE, ALICE, ALICE, 42 };

  g_assert_false (sm_policy_needs_token (policy, &tcp_peer));
  g_assert_true (sm_policy_check_token (policy, NULL, NULL));

  sm_policy_set_token (policy, token);
  g_assert_true (sm_policy_needs_token (policy, &tcp_peer));
  g_assert_false (sm_policy_needs_token (policy, &unix_peer));

  g_assert_true (sm_policy_check_token (policy, "s3cret", NULL));
  g_assert_false (sm_policy_check_token (policy, "s3cre", &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_UNAUTHORIZED);
  g_clear_error (&error);
  g_assert_false (sm_policy_check_token (policy, "s3cret!", NULL));
  g_assert_false (sm_policy_check_token (policy, NULL, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_UNAUTHORIZED);
}

/* Whether @owner may add (domain, prefix) next to alice's "example.test/api" */
static gboolean
may_add (guint32 owner, const char *domain, const char *prefix, GError **error)
{
  g_autoptr (SmRouteClaims) claims = sm_route_claims_new (HOLD);

  sm_route_claims_add (claims, ALICE, TRUE, "example.test", "/api");
  return sm_route_claims_check (claims, 8080, owner, TRUE, domain, prefix, NULL, FALSE, 0, error);
}

static void
test_claims_routes (void)
{
  g_autoptr (GError) error = NULL;

  /* Alice may add anything next to her own route */
  g_assert_true (may_add (ALICE, "example.test", "/api", NULL));
  g_assert_true (may_add (ALICE, "", "/", NULL));

  /* Bob may not join, shadow or cover it */
  g_assert_false (may_add (BOB, "Example.TEST", "/api", &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_ROUTE_OWNED);
  g_assert_cmpstr (error->message, ==,
                   "route owned: Example.TEST/api on port 8080 belongs to uid 4000001");
  g_clear_error (&error);
  g_assert_false (may_add (BOB, "example.test", "/api/v2", &error));
  g_assert_nonnull (strstr (error->message, "would shadow"));
  g_clear_error (&error);
  g_assert_false (may_add (BOB, "x.example.test", "/", NULL));
  g_assert_false (may_add (BOB, "", "/", &error));
  g_assert_nonnull (strstr (error->message, "overlaps"));

  /* Disjoint: another domain (also at a label boundary), another path */
  g_assert_true (may_add (BOB, "other.test", "/api", NULL));
  g_assert_true (may_add (BOB, "badexample.test", "/api", NULL));
  /* Path prefixes are plain string prefixes, as the matcher uses them */
  g_assert_false (may_add (BOB, "example.test", "/apix", NULL));
  g_assert_true (may_add (BOB, "", "/web", NULL));
}

static void
test_claims_hold (void)
{
  g_autoptr (SmRouteClaims) claims = sm_route_claims_new (HOLD);

  sm_route_claims_add (claims, ALICE, TRUE, "", "/a");
  sm_route_claims_add (claims, ALICE, TRUE, "", "/a");
  sm_route_claims_remove (claims, ALICE, TRUE, "", "/a", 1000);
  g_assert_false (sm_route_claims_check (claims, 80, BOB, TRUE, "", "/a", NULL, FALSE, 2000, NULL));

  /* The last replica left: still hers for the hold timeout */
  sm_route_claims_remove (claims, ALICE, TRUE, "", "/a", 5000);
  g_assert_false (
      sm_route_claims_check (claims, 80, BOB, TRUE, "", "/a", NULL, FALSE, 5000 + HOLD - 1, NULL));
  g_assert_true (
      sm_route_claims_check (claims, 80, BOB, TRUE, "", "/a", NULL, FALSE, 5000 + HOLD, NULL));
}

static void
test_claims_tcp (void)
{
  g_autoptr (SmRouteClaims) claims = sm_route_claims_new (HOLD);
  g_autoptr (GError) error = NULL;

  sm_route_claims_add (claims, ALICE, FALSE, NULL, NULL);
  g_assert_true (sm_route_claims_check (claims, 5432, ALICE, FALSE, NULL, NULL, NULL, FALSE, 0, NULL));
  g_assert_false (sm_route_claims_check (claims, 5432, BOB, FALSE, NULL, NULL, NULL, FALSE, 0, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_ROUTE_OWNED);
  g_assert_cmpstr (error->message, ==, "route owned: port 5432 is held by uid 4000001");
}

static void
test_claims_certificates (void)
{
  g_autoptr (SmRouteClaims) claims = sm_route_claims_new (HOLD);
  g_autoptr (GError) error = NULL;
  const char *a_name[] = { "a.example.test", NULL };
  const char *wildcard[] = { "*.example.test", NULL };
  const char *b_name[] = { "b.other.test", NULL };

  sm_route_claims_add (claims, ALICE, TRUE, "a.example.test", "/");

  /* Bob's disjoint route may not bring a certificate for alice's name */
  g_assert_false (sm_route_claims_check (claims, 443, BOB, TRUE, "b.other.test", "/", a_name, TRUE,
                                         0, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_ROUTE_OWNED);
  g_clear_error (&error);
  g_assert_false (sm_route_claims_check (claims, 443, BOB, TRUE, "b.other.test", "/", wildcard, TRUE,
                                         0, NULL));
  g_assert_true (sm_route_claims_check (claims, 443, BOB, TRUE, "b.other.test", "/", b_name, TRUE, 0,
                                        NULL));

  /* Nor turn her plain port into a TLS one */
  g_assert_false (sm_route_claims_check (claims, 80, BOB, TRUE, "b.other.test", "/", b_name, FALSE,
                                         0, &error));
  g_assert_error (error, SM_ERROR, SM_ERROR_PERMISSION_DENIED);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/policy/privileged-ports", test_privileged_ports);
  g_test_add_func ("/policy/allow-lists", test_allow_lists);
  g_test_add_func ("/policy/token", test_token);
  g_test_add_func ("/claims/routes", test_claims_routes);
  g_test_add_func ("/claims/hold", test_claims_hold);
  g_test_add_func ("/claims/tcp", test_claims_tcp);
  g_test_add_func ("/claims/certificates", test_claims_certificates);

  return g_test_run ();
}
