export class Stack<T> {
  push(item: T): void {
    throw new Error("not implemented");
  }

  pop(): T | undefined {
    throw new Error("not implemented");
  }

  peek(): T | undefined {
    throw new Error("not implemented");
  }

  get size(): number {
    throw new Error("not implemented");
  }

  toArray(): T[] {
    throw new Error("not implemented");
  }
}
