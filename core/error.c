/* SPDX-License-Identifier: MIT */
/* keel_strerror: text for a keel result. */
#include <keel/error.h>

#include <string.h>

const char *keel_strerror(long code)
{
	if (code >= 0)
		return "success";
	if (code < -4095)
		return "not a keel error code";
	/* strerror is not thread-safe in general; glibc's is for valid
	 * numbers (a static table), which is all we pass. */
	return strerror((int)-code);
}
