"""What the LeetCode judge provides implicitly, as source run before a solution (``tests["prelude"]``).

LeetCode solutions use ``List``, ``Optional``, ``inf``, ``Counter``, ``SortedList``... without importing them, and
the rllm / LeetCodeDataset tests build inputs with ``list_node`` / ``tree_node`` and compare with
``is_same_list`` / ``is_same_tree``. Without this prelude most real LeetCode records fail with NameError.
"""

LEETCODE_PRELUDE = '''\
from typing import *
from collections import *
from heapq import *
from bisect import *
from itertools import *
from functools import *
from math import *
from string import *
from operator import *
import bisect, collections, functools, heapq, itertools, math, operator, random, re, string, sys
try:
    from sortedcontainers import SortedDict, SortedList, SortedSet
except ImportError:
    pass
sys.setrecursionlimit(100000)
inf = float("inf")


class ListNode:
    def __init__(self, val=0, next=None):
        self.val = val
        self.next = next


class TreeNode:
    def __init__(self, val=0, left=None, right=None):
        self.val = val
        self.left = left
        self.right = right


def list_node(values):
    head = cur = ListNode()
    for v in values:
        cur.next = ListNode(v)
        cur = cur.next
    return head.next


def is_same_list(a, b):
    while a is not None and b is not None:
        if a.val != b.val:
            return False
        a, b = a.next, b.next
    return a is None and b is None


def tree_node(values):
    """Level-order list with None for missing children (LeetCode's serialization)."""
    if not values or values[0] is None:
        return None
    root = TreeNode(values[0])
    queue = deque([root])
    i = 1
    while queue and i < len(values):
        node = queue.popleft()
        if i < len(values) and values[i] is not None:
            node.left = TreeNode(values[i])
            queue.append(node.left)
        i += 1
        if i < len(values) and values[i] is not None:
            node.right = TreeNode(values[i])
            queue.append(node.right)
        i += 1
    return root


def is_same_tree(a, b):
    if a is None or b is None:
        return a is b
    return a.val == b.val and is_same_tree(a.left, b.left) and is_same_tree(a.right, b.right)
'''
