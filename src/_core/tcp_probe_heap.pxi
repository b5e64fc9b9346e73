# tcp_probe.pyx's two min-heaps by time, in C arrays: Deadline (connects and answers in flight)
# and Due (scheduled checks). The prober keeps each array's length and capacity; these only move
# entries, the way heapq does, with no Python object per entry.

ctypedef fused HeapEntry:
    Deadline
    Due


cdef inline void _sift_up(HeapEntry *heap, int i, HeapEntry item) noexcept nogil:
    """Put ``item`` into heap[0:i + 1], whose slot ``i`` is free."""
    cdef int parent
    while i > 0:
        parent = (i - 1) >> 1
        if heap[parent].at <= item.at:
            break
        heap[i] = heap[parent]
        i = parent
    heap[i] = item


cdef inline void _sift_down(HeapEntry *heap, int n) noexcept nogil:
    """After heap[0] was taken: heap[n] (the old last entry) takes its place in heap[0:n]."""
    cdef HeapEntry last = heap[n]
    cdef int i = 0
    cdef int child
    while True:
        child = 2 * i + 1
        if child >= n:
            break
        if child + 1 < n and heap[child + 1].at < heap[child].at:
            child += 1
        if heap[child].at >= last.at:
            break
        heap[i] = heap[child]
        i = child
    heap[i] = last
