/* SPDX-License-Identifier: MIT */
/** \file
 * An intrusive circular doubly linked list. A zeroed node is "not linked";
 * a head must be initialised with keel_list_init.
 */
#ifndef KEEL_LIST_H
#define KEEL_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct keel_list {
	struct keel_list *prev, *next;
};

#define KEEL_CONTAINER_OF(ptr, type, member)                                   \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void keel_list_init(struct keel_list *h)
{
	h->prev = h->next = h;
}

static inline bool keel_list_empty(const struct keel_list *h)
{
	return h->next == h;
}

/** Whether node \p n is on some list (zeroed nodes are not). */
static inline bool keel_list_linked(const struct keel_list *n)
{
	return n->next != NULL;
}

static inline void keel_list_push_back(struct keel_list *h, struct keel_list *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void keel_list_remove(struct keel_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
}

/** Remove and return the first node, or NULL. */
static inline struct keel_list *keel_list_pop_front(struct keel_list *h)
{
	struct keel_list *n = h->next;

	if (n == h)
		return NULL;
	keel_list_remove(n);
	return n;
}

/** Move all nodes of \p from to the end of \p to; \p from becomes empty. */
static inline void keel_list_splice(struct keel_list *to, struct keel_list *from)
{
	if (keel_list_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	keel_list_init(from);
}

#endif /* KEEL_LIST_H */
