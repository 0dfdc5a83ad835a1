/*
 * check_xml.c - unit tests of the S3 reply parsers (src/xml.c): real-looking
 * replies, entity-escaped and url-encoded names, every truncation of a
 * document, malformed documents and input beyond the ceiling.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xml.h"

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static const char list_page[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult " NS ">\n"
    "  <Name>blocks</Name>\n"
    "  <Prefix>db/</Prefix>\n"
    "  <KeyCount>3</KeyCount>\n"
    "  <MaxKeys>3</MaxKeys>\n"
    "  <Delimiter>/</Delimiter>\n"
    "  <IsTruncated>true</IsTruncated>\n"
    "  <Contents>\n"
    "    <Key>db/a.sqlite</Key>\n"
    "    <LastModified>2024-02-29T23:59:58.123Z</LastModified>\n"
    "    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>\n"
    "    <Size>4096</Size>\n"
    "    <Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>"
    "<DisplayName>me</DisplayName></Owner>\n"
    "    <StorageClass>STANDARD</StorageClass>\n"
    "  </Contents>\n"
    "  <Contents>\n"
    "    <Key>db/b&amp;c &lt;Key&gt;</Key>\n"
    "    <LastModified>2009-10-12T17:50:30Z</LastModified>\n"
    "    <Size>18446744073709551615</Size>\n"
    "  </Contents>\n"
    "  <CommonPrefixes><Prefix>db/cool.sqlite/</Prefix></CommonPrefixes>\n"
    "  "
    "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>\n"
    "</ListBucketResult>\n";

START_TEST(test_list_page)
{
	struct xml_list l;
	struct xml_error e;

	ck_assert_int_eq(xml_parse_list(list_page, strlen(list_page), &l, &e), 0);
	ck_assert_uint_eq(l.nobjs, 2);
	ck_assert_str_eq(l.objs[0].key, "db/a.sqlite");
	ck_assert_uint_eq(l.objs[0].size, 4096);
	ck_assert_int_eq((long)l.objs[0].mtime, 1709251198L);
	ck_assert_str_eq(l.objs[1].key, "db/b&c <Key>");
	ck_assert(l.objs[1].size == UINT64_MAX);
	ck_assert_int_eq((long)l.objs[1].mtime, 1255369830L);
	ck_assert_uint_eq(l.nprefixes, 1);
	ck_assert_str_eq(l.prefixes[0], "db/cool.sqlite/");
	ck_assert_int_eq(l.truncated, 1);
	ck_assert_int_eq(l.url_encoded, 0);
	ck_assert_str_eq(l.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	xml_list_free(&l);
	ck_assert_ptr_null(l.objs);
}
END_TEST

/* What s3rver, RGW and AWS send with encoding-type=url: '+' is a space,
 * '%2B' a plus, '/' left alone; EncodingType may come after the keys. */
START_TEST(test_list_url_encoded)
{
	static const char doc[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	    "<ListBucketResult " NS "><Name>b</Name><Prefix>odd%2F</Prefix>"
	    "<Contents><Key>odd/a+b%2Bc%25d%26e~f</Key><Size>1</Size></Contents>"
	    "<Contents><Key>odd/caf%C3%A9/%E2%82%AC</Key><Size>2</Size>"
	    "<LastModified>2020-01-01T00:00:00.000+00:00</LastModified></Contents>"
	    "<Contents><Key>odd/x%3Cy%3E&amp;z</Key><Size>0</Size></Contents>"
	    "<CommonPrefixes><Prefix>odd/sp+ace/</Prefix></CommonPrefixes>"
	    "<IsTruncated>false</IsTruncated><EncodingType>url</EncodingType>"
	    "</ListBucketResult>";
	struct xml_list l;

	ck_assert_int_eq(xml_parse_list(doc, strlen(doc), &l, NULL), 0);
	ck_assert_int_eq(l.url_encoded, 1);
	ck_assert_int_eq(l.truncated, 0);
	ck_assert_ptr_null(l.next_token);
	ck_assert_uint_eq(l.nobjs, 3);
	ck_assert_str_eq(l.objs[0].key, "odd/a b+c%d&e~f");
	ck_assert_str_eq(l.objs[1].key, "odd/caf\xc3\xa9/\xe2\x82\xac");
	ck_assert_int_eq((long)l.objs[1].mtime, 1577836800L);
	ck_assert_str_eq(l.objs[2].key, "odd/x<y>&z");
	ck_assert_uint_eq(l.objs[2].size, 0);
	ck_assert_str_eq(l.prefixes[0], "odd/sp ace/");
	xml_list_free(&l);
}
END_TEST

START_TEST(test_list_empty)
{
	static const char doc[] = "<ListBucketResult " NS "><Name>b</Name><KeyCount>0</KeyCount>"
	                          "<MaxKeys>0</MaxKeys><IsTruncated>false</IsTruncated>"
	                          "</ListBucketResult>";
	struct xml_list l;

	ck_assert_int_eq(xml_parse_list(doc, strlen(doc), &l, NULL), 0);
	ck_assert_uint_eq(l.nobjs, 0);
	ck_assert_uint_eq(l.nprefixes, 0);
	xml_list_free(&l);
}
END_TEST

/* No prefix of a document is itself a valid document. */
START_TEST(test_list_every_truncation)
{
	size_t len = strlen(list_page);
	struct xml_list l;

	/* The full text ends in "\n" after the root: trimming that is fine. */
	while (len > 0 && list_page[len - 1] == '\n')
		len--;
	for (size_t i = 0; i < len; i++) {
		int rc = xml_parse_list(list_page, i, &l, NULL);
		if (rc != -EPROTO)
			ck_abort_msg("prefix of %zu bytes: rc %d", i, rc);
		ck_assert_ptr_null(l.objs);
	}
	ck_assert_int_eq(xml_parse_list(list_page, len, &l, NULL), 0);
	xml_list_free(&l);
}
END_TEST

static int
parse_list_str(const char *doc)
{
	struct xml_list l;
	int rc = xml_parse_list(doc, strlen(doc), &l, NULL);

	if (rc == 0)
		xml_list_free(&l);
	ck_assert_ptr_null(l.objs);
	return rc;
}

START_TEST(test_list_malformed)
{
	/* mismatched tag */
	ck_assert_int_eq(parse_list_str("<ListBucketResult><Contents><Key>a</Size></Contents>"
	                                "</ListBucketResult>"),
	                 -EPROTO);
	/* not a number */
	ck_assert_int_eq(parse_list_str("<ListBucketResult><Contents><Key>a</Key><Size>12x</Size>"
	                                "</Contents></ListBucketResult>"),
	                 -EPROTO);
	ck_assert_int_eq(parse_list_str("<ListBucketResult><Contents><Key>a</Key><Size>-1</Size>"
	                                "</Contents></ListBucketResult>"),
	                 -EPROTO);
	ck_assert_int_eq(parse_list_str("<ListBucketResult><Contents><Key>a</Key>"
	                                "<Size>99999999999999999999</Size></Contents>"
	                                "</ListBucketResult>"),
	                 -EPROTO);
	/* required fields missing */
	ck_assert_int_eq(parse_list_str("<ListBucketResult><Contents><Size>1</Size></Contents>"
	                                "</ListBucketResult>"),
	                 -EPROTO);
	ck_assert_int_eq(parse_list_str("<ListBucketResult><Contents><Key>a</Key></Contents>"
	                                "</ListBucketResult>"),
	                 -EPROTO);
	ck_assert_int_eq(parse_list_str("<ListBucketResult><CommonPrefixes></CommonPrefixes>"
	                                "</ListBucketResult>"),
	                 -EPROTO);
	/* truncated page without a token: cannot go on, must not look complete */
	ck_assert_int_eq(parse_list_str("<ListBucketResult><IsTruncated>true</IsTruncated>"
	                                "</ListBucketResult>"),
	                 -EPROTO);
	ck_assert_int_eq(parse_list_str("<ListBucketResult><IsTruncated>yes</IsTruncated>"
	                                "</ListBucketResult>"),
	                 -EPROTO);
	/* bad time */
	ck_assert_int_eq(parse_list_str("<ListBucketResult><Contents><Key>a</Key><Size>1</Size>"
	                                "<LastModified>yesterday</LastModified></Contents>"
	                                "</ListBucketResult>"),
	                 -EPROTO);
	/* bad escapes with EncodingType url */
	ck_assert_int_eq(parse_list_str("<ListBucketResult><Contents><Key>a%zz</Key><Size>1</Size>"
	                                "</Contents><EncodingType>url</EncodingType>"
	                                "</ListBucketResult>"),
	                 -EPROTO);
	ck_assert_int_eq(parse_list_str("<ListBucketResult><Contents><Key>a%4</Key><Size>1</Size>"
	                                "</Contents><EncodingType>url</EncodingType>"
	                                "</ListBucketResult>"),
	                 -EPROTO);
	ck_assert_int_eq(parse_list_str("<ListBucketResult><Contents><Key>a%00b</Key><Size>1</Size>"
	                                "</Contents><EncodingType>url</EncodingType>"
	                                "</ListBucketResult>"),
	                 -EPROTO);
	/* wrong root, junk after the root, two roots, not XML at all */
	ck_assert_int_eq(parse_list_str("<ListAllMyBucketsResult></ListAllMyBucketsResult>"),
	                 -EPROTO);
	ck_assert_int_eq(parse_list_str("<ListBucketResult></ListBucketResult>junk"), -EPROTO);
	ck_assert_int_eq(parse_list_str("<ListBucketResult/><ListBucketResult/>"), -EPROTO);
	ck_assert_int_eq(parse_list_str("HTTP/1.1 200 OK"), -EPROTO);
	ck_assert_int_eq(parse_list_str(""), -EPROTO);
	/* unknown entity, and a DTD (entity expansion tricks) */
	ck_assert_int_eq(parse_list_str("<ListBucketResult><Contents><Key>&bogus;</Key><Size>1"
	                                "</Size></Contents></ListBucketResult>"),
	                 -EPROTO);
	ck_assert_int_eq(
	    parse_list_str("<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaa\">"
	                   "<!ENTITY b \"&a;&a;&a;&a;\">]><ListBucketResult><Contents>"
	                   "<Key>&b;</Key><Size>1</Size></Contents></ListBucketResult>"),
	    -EPROTO);
	/* an element's text beyond XML_MAX_TEXT */
	size_t n = XML_MAX_TEXT + 100;
	char *big = malloc(n + 200);
	ck_assert_ptr_nonnull(big);
	int off = snprintf(big, 200, "<ListBucketResult><Contents><Key>");
	memset(big + off, 'k', n);
	static const char tail[] = "</Key><Size>1</Size></Contents></ListBucketResult>";
	memcpy(big + off + n, tail, sizeof(tail));
	ck_assert_int_eq(parse_list_str(big), -EPROTO);
	free(big);
}
END_TEST

/* A page of 1000 keys (the S3 maximum) with entities everywhere. */
START_TEST(test_list_thousand)
{
	size_t cap = 200000, len = 0;
	char *doc = malloc(cap);
	struct xml_list l;

	ck_assert_ptr_nonnull(doc);
	len += (size_t)snprintf(doc + len, cap - len, "<ListBucketResult " NS ">");
	for (int i = 0; i < 1000; i++)
		len += (size_t)snprintf(doc + len, cap - len,
		                        "<Contents><Key>v&amp;%d/%010d</Key><Size>%d</Size>"
		                        "</Contents>",
		                        i % 7, i, i);
	len += (size_t)snprintf(doc + len, cap - len,
	                        "<IsTruncated>true</IsTruncated><NextContinuationToken>t"
	                        "</NextContinuationToken></ListBucketResult>");
	ck_assert_uint_lt(len, cap);
	ck_assert_int_eq(xml_parse_list(doc, len, &l, NULL), 0);
	ck_assert_uint_eq(l.nobjs, 1000);
	for (int i = 0; i < 1000; i++) {
		char want[64];
		snprintf(want, sizeof(want), "v&%d/%010d", i % 7, i);
		ck_assert_str_eq(l.objs[i].key, want);
		ck_assert_uint_eq(l.objs[i].size, (uint64_t)i);
	}
	xml_list_free(&l);
	free(doc);
}
END_TEST

START_TEST(test_beyond_cap)
{
	size_t n = (size_t)XML_MAX_BYTES + 1;
	char *doc = malloc(n);
	struct xml_list l;
	struct xml_delete d;
	struct xml_error e;

	ck_assert_ptr_nonnull(doc);
	memset(doc, ' ', n);
	memcpy(doc, "<ListBucketResult>", 18);
	ck_assert_int_eq(xml_parse_list(doc, n, &l, NULL), -EFBIG);
	ck_assert_int_eq(xml_parse_delete(doc, n, &d, NULL), -EFBIG);
	ck_assert_int_eq(xml_parse_error(doc, n, &e), -EFBIG);
	ck_assert_int_eq(xml_parse_copy(doc, n, &e), -EFBIG);
	free(doc);
}
END_TEST

START_TEST(test_error_doc)
{
	static const char doc[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
	    "<RequestId>4442587FB7D0A2F9</RequestId>"
	    "<HostId>aGVsbG8gd29ybGQ=</HostId></Error>";
	static const char redirect[] =
	    "<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access "
	    "must be addressed using the specified endpoint.</Message>"
	    "<Endpoint>blocks.s3.eu-west-1.amazonaws.com</Endpoint><Bucket>blocks</Bucket>"
	    "<RequestId>R1</RequestId></Error>";
	static const char region[] =
	    "<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region 'us-east-1' is "
	    "wrong; expecting 'eu-west-1'</Message><Region>eu-west-1</Region>"
	    "<RequestId>R2</RequestId></Error>";
	struct xml_error e;

	ck_assert_int_eq(xml_parse_error(doc, strlen(doc), &e), 0);
	ck_assert_str_eq(e.code, "SlowDown");
	ck_assert_str_eq(e.message, "Please reduce your request rate.");
	ck_assert_str_eq(e.request_id, "4442587FB7D0A2F9");
	ck_assert_str_eq(e.region, "");
	ck_assert_int_eq(xml_parse_error(redirect, strlen(redirect), &e), 0);
	ck_assert_str_eq(e.code, "PermanentRedirect");
	ck_assert_str_eq(e.endpoint, "blocks.s3.eu-west-1.amazonaws.com");
	ck_assert_int_eq(xml_parse_error(region, strlen(region), &e), 0);
	ck_assert_str_eq(e.region, "eu-west-1");

	/* A long message is cut, never overflows. */
	char longdoc[2048];
	char msg[1024];
	memset(msg, 'm', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	snprintf(longdoc, sizeof(longdoc), "<Error><Code>X</Code><Message>%s</Message></Error>",
	         msg);
	ck_assert_int_eq(xml_parse_error(longdoc, strlen(longdoc), &e), 0);
	ck_assert_uint_eq(strlen(e.message), sizeof(e.message) - 1);

	/* Not an error document, or a broken one. */
	ck_assert_int_eq(xml_parse_error("<ListBucketResult/>", 19, &e), -EPROTO);
	ck_assert_int_eq(xml_parse_error("<Error><Code>X</Code>", 21, &e), -EPROTO);
	ck_assert_int_eq(xml_parse_error("", 0, &e), -EPROTO);

	/* Any other parser given an <Error> says so and fills it. */
	struct xml_list l;
	ck_assert_int_eq(xml_parse_list(doc, strlen(doc), &l, &e), -EREMOTEIO);
	ck_assert_str_eq(e.code, "SlowDown");
	ck_assert_ptr_null(l.objs);
}
END_TEST

START_TEST(test_delete_result)
{
	static const char doc[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<DeleteResult " NS ">"
	    "<Deleted><Key>v/0000000001</Key></Deleted>"
	    "<Error><Key>v/a&amp;b</Key><Code>AccessDenied</Code><Message>Access Denied</Message>"
	    "</Error>"
	    "<Deleted><Key>v/0000000002</Key><VersionId>x</VersionId></Deleted>"
	    "<Error><Key>v/c</Key><Code>InternalError</Code><Message>We encountered an internal "
	    "error. Please try again.</Message></Error>"
	    "</DeleteResult>";
	struct xml_delete d;
	struct xml_error e;

	ck_assert_int_eq(xml_parse_delete(doc, strlen(doc), &d, &e), 0);
	ck_assert_uint_eq(d.ndeleted, 2);
	ck_assert_uint_eq(d.nerrs, 2);
	ck_assert_str_eq(d.errs[0].key, "v/a&b");
	ck_assert_str_eq(d.errs[0].code, "AccessDenied");
	ck_assert_str_eq(d.errs[0].message, "Access Denied");
	ck_assert_str_eq(d.errs[1].key, "v/c");
	ck_assert_str_eq(d.errs[1].code, "InternalError");
	xml_delete_free(&d);

	/* Quiet mode: nothing to report. */
	static const char quiet[] = "<DeleteResult " NS "/>";
	ck_assert_int_eq(xml_parse_delete(quiet, strlen(quiet), &d, &e), 0);
	ck_assert_uint_eq(d.ndeleted + d.nerrs, 0);
	xml_delete_free(&d);

	/* A 200 that carries an <Error>. */
	static const char err[] = "<Error><Code>InternalError</Code><RequestId>Q</RequestId>"
	                          "</Error>";
	ck_assert_int_eq(xml_parse_delete(err, strlen(err), &d, &e), -EREMOTEIO);
	ck_assert_str_eq(e.code, "InternalError");
	ck_assert_str_eq(e.request_id, "Q");

	/* Broken ones. */
	static const char nokey[] = "<DeleteResult><Error><Code>X</Code></Error></DeleteResult>";
	ck_assert_int_eq(xml_parse_delete(nokey, strlen(nokey), &d, &e), -EPROTO);
	ck_assert_int_eq(xml_parse_delete(doc, strlen(doc) - 20, &d, &e), -EPROTO);
	ck_assert_ptr_null(d.errs);
}
END_TEST

START_TEST(test_copy_result)
{
	static const char ok[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	                         "<CopyObjectResult " NS "><LastModified>2024-01-01T00:00:00.000Z"
	                         "</LastModified><ETag>&quot;abc&quot;</ETag></CopyObjectResult>";
	static const char err[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>"
	                          "<Code>InternalError</Code><Message>oops</Message>"
	                          "<RequestId>Z</RequestId></Error>";
	struct xml_error e;

	ck_assert_int_eq(xml_parse_copy(ok, strlen(ok), &e), 0);
	ck_assert_int_eq(xml_parse_copy(err, strlen(err), &e), -EREMOTEIO);
	ck_assert_str_eq(e.code, "InternalError");
	ck_assert_str_eq(e.request_id, "Z");
	ck_assert_int_eq(xml_parse_copy("", 0, &e), -EPROTO);
	ck_assert_int_eq(xml_parse_copy(ok, strlen(ok) - 5, &e), -EPROTO);
	ck_assert_int_eq(xml_parse_copy("<CopyObjectResult></CopyObjectResult>", 37, &e), -EPROTO);
	ck_assert_int_eq(xml_parse_copy("<DeleteResult/>", 15, &e), -EPROTO);
}
END_TEST

START_TEST(test_time_and_decode)
{
	time_t t;
	char *s;

	ck_assert_int_eq(xml_parse_time("1970-01-01T00:00:00Z", &t), 0);
	ck_assert_int_eq((long)t, 0);
	ck_assert_int_eq(xml_parse_time("2038-01-19T03:14:08.999Z", &t), 0);
	ck_assert_int_eq((long long)t, 2147483648LL);
	ck_assert_int_eq(xml_parse_time("2024-01-01T00:00:00", &t), -EINVAL);
	ck_assert_int_eq(xml_parse_time("2024-13-01T00:00:00Z", &t), -EINVAL);
	ck_assert_int_eq(xml_parse_time("2024-01-01T00:00:00.Z", &t), -EINVAL);
	ck_assert_int_eq(xml_parse_time("2024-1-01T00:00:00Z", &t), -EINVAL);
	ck_assert_int_eq(xml_parse_time("", &t), -EINVAL);

	s = xml_url_decode("a+b%20c%2b%2F~%e2%82%ac");
	ck_assert_str_eq(s, "a b c+/~\xe2\x82\xac");
	free(s);
	s = xml_url_decode("");
	ck_assert_str_eq(s, "");
	free(s);
	ck_assert_ptr_null(xml_url_decode("%"));
	ck_assert_ptr_null(xml_url_decode("%a"));
	ck_assert_ptr_null(xml_url_decode("abc%g0"));
	ck_assert_ptr_null(xml_url_decode("%00"));
}
END_TEST

static Suite *
xml_suite(void)
{
	Suite *s = suite_create("xml");
	TCase *tc = tcase_create("parse");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_list_page);
	tcase_add_test(tc, test_list_url_encoded);
	tcase_add_test(tc, test_list_empty);
	tcase_add_test(tc, test_list_every_truncation);
	tcase_add_test(tc, test_list_malformed);
	tcase_add_test(tc, test_list_thousand);
	tcase_add_test(tc, test_beyond_cap);
	tcase_add_test(tc, test_error_doc);
	tcase_add_test(tc, test_delete_result);
	tcase_add_test(tc, test_copy_result);
	tcase_add_test(tc, test_time_and_decode);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(xml_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
