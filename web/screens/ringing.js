export function update() {}
