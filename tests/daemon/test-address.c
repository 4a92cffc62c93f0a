/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <string.h>
#include <gio/gunixsocketaddress.h>

#include "sm-address.h"
#include "sm-error.h"
#include "sm-rate-limit.h"

static char *
parse_bind_to_string (const char *text,
                      GError    **error)
{
  g_autoptr(GInetAddress) address = NULL;
  guint16 port = 12345;

  if (!sm_address_parse_bind (text, &address, &port, error))
    return NULL;

  return sm_address_format (address, port);
}

static void
test_bind_valid (void)
{
  const struct {
    const char *text;
    const char *expected;
  } cases[] = {
    { "127.0.0.1:9999", "127.0.0.1:9999" },
    { "127.0.0.1:0", "127.0.0.1:0" },
    { "0.0.0.0:80", "0.0.0.0:80" },
    { ":9999", "*:9999" },
    { "*:9999", "*:9999" },
    { "localhost:8080", "127.0.0.1:8080" },
    { "LocalHost:1", "127.0.0.1:1" },
    { "[::1]:9999", "[::1]:9999" },
    { "[::]:0", "[::]:0" },
    { "[0:0:0:0:0:0:0:1]:65535", "[::1]:65535" },
    { "10.1.2.3:00080", "10.1.2.3:80" },
    { "10.1.2.3:0000000000000000000080", "10.1.2.3:80" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *formatted = parse_bind_to_string (cases[i].text, &error);

      g_test_message ("%s", cases[i].text);
      g_assert_no_error (error);
      g_assert_cmpstr (formatted, ==, cases[i].expected);
    }
}

static void
test_bind_all_interfaces_is_null (void)
{
  g_autoptr(GInetAddress) address = NULL;
  g_autoptr(GError) error = NULL;
  guint16 port = 0;

  g_assert_true (sm_address_parse_bind (":4242", &address, &port, &error));
  g_assert_no_error (error);
  g_assert_null (address);
  g_assert_cmpuint (port, ==, 4242);
}

static void
test_bind_invalid (void)
{
  const char *cases[] = {
    "",
    "127.0.0.1",
    "127.0.0.1:",
    "127.0.0.1:65536",
    "127.0.0.1:99999999999",
    "127.0.0.1:000000000000000000065536",
    "127.0.0.1:-1",
    "127.0.0.1:+80",
    "127.0.0.1: 80",
    "127.0.0.1:0x50",
    "127.0.0.1:80 ",
    "::1:9999",
    "[::1]9999",
    "[::1:9999",
    "[127.0.0.1]:9999",
    "[]:9999",
    "example.com:80",
    "256.1.1.1:80",
    "1.2.3:80",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *formatted = parse_bind_to_string (cases[i], &error);

      g_test_message ("'%s'", cases[i]);
      g_assert_null (formatted);
      g_assert_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull (error->message);
    }
}

/* --bind unix:PATH next to the TCP forms */
static void
test_control_bind (void)
{
  const struct {
    const char *text;
    const char *path;     /* NULL: a TCP address */
    const char *address;  /* formatted, for TCP */
  } valid[] = {
    { "unix:/run/socketmaster/control.sock", "/run/socketmaster/control.sock", NULL },
    { "unix:relative.sock", "relative.sock", NULL },
    { "unix:/tmp/with:colon:80", "/tmp/with:colon:80", NULL },
    { "unix:@not-abstract", "@not-abstract", NULL },
    { "127.0.0.1:9999", NULL, "127.0.0.1:9999" },
    { "[::1]:0", NULL, "[::1]:0" },
    { ":80", NULL, "*:80" },
  };
  g_autofree char *longest = g_strnfill (107, 'x');
  g_autofree char *too_long = g_strnfill (108, 'x');
  g_autofree char *longest_bind = g_strconcat ("unix:", longest, NULL);
  g_autofree char *too_long_bind = g_strconcat ("unix:", too_long, NULL);
  const char *invalid[] = { "unix:", too_long_bind, "unix", "UNIX:/x", "unix/x:", "" };

  for (gsize i = 0; i < G_N_ELEMENTS (valid); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GInetAddress) address = NULL;
      g_autofree char *path = NULL;
      guint16 port = 12345;

      g_test_message ("%s", valid[i].text);
      g_assert_true (sm_address_parse_control_bind (valid[i].text, &path, &address, &port,
                                                    &error));
      g_assert_no_error (error);
      g_assert_cmpstr (path, ==, valid[i].path);
      if (valid[i].path != NULL)
        {
          g_assert_null (address);
          g_assert_cmpuint (port, ==, 12345);
        }
      else
        {
          g_autofree char *formatted = sm_address_format (address, port);

          g_assert_cmpstr (formatted, ==, valid[i].address);
        }
    }

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GInetAddress) address = NULL;
    g_autofree char *path = NULL;
    guint16 port = 0;

    g_assert_true (sm_address_parse_control_bind (longest_bind, &path, &address, &port, &error));
    g_assert_cmpuint (strlen (path), ==, 107);
  }

  for (gsize i = 0; i < G_N_ELEMENTS (invalid); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GInetAddress) address = NULL;
      g_autofree char *path = NULL;
      guint16 port = 0;

      g_test_message ("'%s'", invalid[i]);
      g_assert_false (sm_address_parse_control_bind (invalid[i], &path, &address, &port, &error));
      g_assert_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT);
      g_assert_null (path);
      g_assert_null (address);
    }
}

static void
test_service_address (void)
{
  const struct {
    const char *text;
    const char *expected_host;
  } valid[] = {
    { "", "*" },
    { "127.0.0.1", "127.0.0.1" },
    { "localhost", "127.0.0.1" },
    { "::1", "::1" },
    { "::0001", "::1" },
    { "0.0.0.0", "0.0.0.0" },
  };
  const char *invalid[] = { "example.com", "127.0.0.1:80", "[::1]", " 127.0.0.1", "*" };

  for (gsize i = 0; i < G_N_ELEMENTS (valid); i++)
    {
      g_autoptr(GInetAddress) address = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *host = NULL;

      g_assert_true (sm_address_parse_service (valid[i].text, &address, &error));
      g_assert_no_error (error);
      host = sm_address_to_host (address);
      g_assert_cmpstr (host, ==, valid[i].expected_host);
    }

  for (gsize i = 0; i < G_N_ELEMENTS (invalid); i++)
    {
      g_autoptr(GInetAddress) address = NULL;
      g_autoptr(GError) error = NULL;

      g_assert_false (sm_address_parse_service (invalid[i], &address, &error));
      g_assert_error (error, SM_ERROR, SM_ERROR_INVALID_ARGUMENT);
      g_assert_cmpstr (error->message, ==, "address must be an IP address");
      g_assert_null (address);
    }
}

static void
test_format_socket (void)
{
  g_autoptr(GSocketAddress) v4 = g_inet_socket_address_new_from_string ("192.168.1.2", 8000);
  g_autoptr(GSocketAddress) v6 = g_inet_socket_address_new_from_string ("fe80::1", 443);
  g_autofree char *v4_text = sm_address_format_socket (v4);
  g_autofree char *v6_text = sm_address_format_socket (v6);
  g_autofree char *any_text = sm_address_format (NULL, 7);

  g_assert_cmpstr (v4_text, ==, "192.168.1.2:8000");
  g_assert_cmpstr (v6_text, ==, "[fe80::1]:443");
  g_assert_cmpstr (any_text, ==, "*:7");

  {
    g_autoptr(GSocketAddress) named = g_unix_socket_address_new ("/run/c.sock");
    g_autoptr(GSocketAddress) unnamed = g_unix_socket_address_new ("");
    g_autofree char *named_text = sm_address_format_socket (named);
    g_autofree char *unnamed_text = sm_address_format_socket (unnamed);

    g_assert_cmpstr (named_text, ==, "unix:/run/c.sock");
    g_assert_cmpstr (unnamed_text, ==, "unix");
  }
}

static void
test_rate_limit (void)
{
  SmRateLimit limit;
  guint suppressed = 99;
  const gint64 second = G_USEC_PER_SEC;
  gint64 t0 = 5 * second;

  sm_rate_limit_init (&limit, 10 * second, 3);

  /* A burst of three gets through, the rest is counted */
  for (guint i = 0; i < 3; i++)
    {
      g_assert_true (sm_rate_limit_check (&limit, t0 + i, &suppressed));
      g_assert_cmpuint (suppressed, ==, 0);
    }
  for (guint i = 0; i < 7; i++)
    g_assert_false (sm_rate_limit_check (&limit, t0 + second, NULL));

  /* Still inside the window */
  g_assert_false (sm_rate_limit_check (&limit, t0 + 10 * second - 1, NULL));

  /* A new window reports what was held back, once */
  g_assert_true (sm_rate_limit_check (&limit, t0 + 10 * second, &suppressed));
  g_assert_cmpuint (suppressed, ==, 8);
  g_assert_true (sm_rate_limit_check (&limit, t0 + 10 * second + 1, &suppressed));
  g_assert_cmpuint (suppressed, ==, 0);

  /* A clock that goes backwards opens a new window instead of wedging */
  g_assert_true (sm_rate_limit_check (&limit, t0 + 11 * second, NULL));
  g_assert_false (sm_rate_limit_check (&limit, t0 + 11 * second, NULL));
  g_assert_true (sm_rate_limit_check (&limit, 0, &suppressed));
  g_assert_cmpuint (suppressed, ==, 1);
}

static void
test_rate_limit_extreme_times (void)
{
  SmRateLimit limit;

  sm_rate_limit_init (&limit, G_USEC_PER_SEC, 1);

  g_assert_true (sm_rate_limit_check (&limit, G_MININT64 + 1, NULL));
  g_assert_false (sm_rate_limit_check (&limit, G_MININT64 + 2, NULL));
  /* Must not overflow when computing the distance to the window start */
  g_assert_true (sm_rate_limit_check (&limit, G_MAXINT64, NULL));
  g_assert_false (sm_rate_limit_check (&limit, G_MAXINT64, NULL));
}

static void
test_rate_limit_describe (void)
{
  g_autofree char *none = sm_rate_limit_describe_suppressed (0);
  g_autofree char *some = sm_rate_limit_describe_suppressed (42);

  g_assert_cmpstr (none, ==, "");
  g_assert_cmpstr (some, ==, " (42 similar messages suppressed)");
}

static void
test_source_key (void)
{
  static const struct {
    const char *address;
    const char *key;
  } cases[] = {
    { "192.0.2.7", "192.0.2.7" },
    { "::ffff:192.0.2.7", "192.0.2.7" },
    { "::1", "::1" },
    { "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64" },
    { "2001:db8:1:2:ffff::1", "2001:db8:1:2::/64" },
    { "fe80::1", "fe80::/64" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GInetAddress) inet = g_inet_address_new_from_string (cases[i].address);
      g_autoptr(GSocketAddress) address = g_inet_socket_address_new (inet, 4242);
      g_autofree char *key = sm_address_source_key (address);

      g_assert_cmpstr (key, ==, cases[i].key);
    }

  {
    g_autofree char *key = sm_address_source_key (NULL);

    g_assert_cmpstr (key, ==, "(unknown)");
  }

  /* SmControl keys Unix peers by uid; this is the shared fallback */
  {
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new ("");
    g_autofree char *key = sm_address_source_key (address);

    g_assert_cmpstr (key, ==, "unix");
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/address/bind/valid", test_bind_valid);
  g_test_add_func ("/address/bind/all-interfaces", test_bind_all_interfaces_is_null);
  g_test_add_func ("/address/bind/invalid", test_bind_invalid);
  g_test_add_func ("/address/bind/control-unix", test_control_bind);
  g_test_add_func ("/address/service", test_service_address);
  g_test_add_func ("/address/format-socket", test_format_socket);
  g_test_add_func ("/address/source-key", test_source_key);
  g_test_add_func ("/rate-limit/burst-and-window", test_rate_limit);
  g_test_add_func ("/rate-limit/extreme-times", test_rate_limit_extreme_times);
  g_test_add_func ("/rate-limit/describe", test_rate_limit_describe);

  return g_test_run ();
}
